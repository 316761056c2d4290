from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from lgmcl_dgl.data.load import InputError, load_molecules
from lgmcl_dgl.data.splits import load_split_file, make_split, murcko_scaffold


@pytest.fixture(scope="module", params=["BBBP.csv", "tox21.csv.gz"])
def table(request, moleculenet):
    return load_molecules(moleculenet / request.param)


def _check_partition(split, n):
    parts = [set(p.tolist()) for p in split.parts().values()]
    assert sum(len(p) for p in parts) == n
    assert set().union(*parts) == set(range(n))


@pytest.mark.parametrize("kind", ["random", "scaffold", "scaffold_balanced"])
def test_split_is_a_reproducible_partition(table, kind):
    split = make_split(table, kind, (0.8, 0.1, 0.1), seed=1)
    _check_partition(split, len(table))
    again = make_split(table, kind, (0.8, 0.1, 0.1), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(split.parts().values(), again.parts().values()))
    assert abs(len(split.train) - 0.8 * len(table)) <= 0.05 * len(table)


def test_scaffold_sets_never_cross_parts(table):
    split = make_split(table, "scaffold", (0.8, 0.1, 0.1))
    owner = {}
    for name, positions in split.parts().items():
        for p in positions:
            scaffold = murcko_scaffold(table.smiles[p])
            assert owner.setdefault(scaffold, name) == name


def test_random_seeds_differ_and_paper_protocol(table):
    a = make_split(table, "random", (0.6, 0.2, 0.2), seed=0)
    b = make_split(table, "random", (0.6, 0.2, 0.2), seed=1)
    assert not np.array_equal(a.test, b.test)
    molecules = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in table.smiles]  # fractions of distinct molecules
    assert abs(len({molecules[p] for p in a.test}) - 0.2 * len(set(molecules))) <= 1


def test_split_file_round_trip_in_data_rows(tmp_path: Path, moleculenet: Path):
    table = load_molecules(moleculenet / "BBBP.csv")
    split = make_split(table, "scaffold")
    path = split.save(tmp_path / "split.json", table)
    saved = json.loads(path.read_text())
    assert set(saved) == {"train", "val", "test"}
    assert max(max(v) for v in saved.values()) <= 2049  # data-row indices, not positions
    back = load_split_file(path, table)
    assert all(np.array_equal(a, b) for a, b in zip(split.parts().values(), back.parts().values()))
    saved["val"].append(saved["train"][0])
    (tmp_path / "overlap.json").write_text(json.dumps(saved))
    with pytest.raises(InputError, match="in both"):
        load_split_file(tmp_path / "overlap.json", table)


@pytest.fixture(scope="module")
def bbbp_with_rewritten_copies(moleculenet, tmp_path_factory):
    """The real BBBP file (60 molecules in it appear more than once) plus 40 of its molecules again, each
    written as another SMILES of the same molecule, with the opposite label."""
    from rdkit import Chem

    frame = pd.read_csv(moleculenet / "BBBP.csv")
    again = frame.iloc[100:140].copy()
    again["smiles"] = [Chem.MolToSmiles(Chem.MolFromSmiles(s), doRandom=True) for s in again["smiles"]]
    again["p_np"] = 1 - again["p_np"]
    path = tmp_path_factory.mktemp("copies") / "bbbp_copies.csv"
    pd.concat([frame, again]).to_csv(path, index=False)
    return load_molecules(path, target_columns=["p_np"])


@pytest.mark.parametrize("kind", ["random", "scaffold", "scaffold_balanced"])
def test_every_copy_of_a_molecule_is_in_one_part(bbbp_with_rewritten_copies, kind):
    table = bbbp_with_rewritten_copies
    canonical = pd.Series([Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in table.smiles])
    assert canonical.duplicated().sum() >= 40  # the file's own copies and the rewritten ones
    for seed in (0, 1, 2):
        split = make_split(table, kind, (0.6, 0.2, 0.2), seed=seed)
        _check_partition(split, len(table))
        part_of = pd.Series("", index=range(len(table)))
        for name, positions in split.parts().items():
            part_of[positions] = name
        assert (part_of.groupby(canonical).nunique() == 1).all()


def test_without_duplicates_the_random_split_is_the_plain_split_of_positions(moleculenet):
    """Keeping copies together must not move a molecule of a set without copies (benchmark splits stay valid)."""
    from sklearn.model_selection import train_test_split

    table = load_molecules(moleculenet / "BBBP.csv")
    canonical = pd.Series([Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in table.smiles])
    unique = table.subset(np.flatnonzero(~canonical.duplicated(keep=False).to_numpy()))
    for sizes, seed in (((0.8, 0.1, 0.1), 0), ((0.6, 0.2, 0.2), 2)):
        rest, test = train_test_split(np.arange(len(unique)), test_size=sizes[2], random_state=seed)
        train, val = train_test_split(rest, test_size=sizes[1] / (sizes[0] + sizes[1]), random_state=seed)
        split = make_split(unique, "random", sizes, seed)
        assert [p.tolist() for p in split.parts().values()] == [sorted(p.tolist()) for p in (train, val, test)]


@pytest.mark.shared
def test_committed_benchmark_splits_of_sets_without_copies_are_made_again_unchanged(shared_data):
    """benchmarks/results/moleculenet/splits were made before copies were kept together: for the sets
    without copies, and for every scaffold split, the splits made now are the same rows in the same parts."""
    from lgmcl_dgl.data.duplicates import find_duplicates

    splits = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "moleculenet" / "splits"
    cases = [("SAMPL.csv", "expt", "freesolv-random"), ("Lipophilicity.csv", "exp", "lipophilicity-random"),
             ("BBBP.csv", "p_np", "bbbp-scaffold")]
    for filename, column, stem in cases:
        table = load_molecules(shared_data / "moleculenet" / filename, target_columns=[column])
        kind = stem.split("-")[1]
        if kind == "random":
            assert not find_duplicates(table).groups
        for seed in (0, 1, 2):
            made = make_split(table, kind, (0.6, 0.2, 0.2) if kind == "random" else (0.8, 0.1, 0.1), seed)
            committed = json.loads((splits / f"{stem}-{seed}.json").read_text())
            assert made.to_rows(table) == {part: sorted(rows) for part, rows in committed.items()}


def test_a_split_file_that_separates_copies_is_used_as_given_with_a_warning(bbbp_with_rewritten_copies, tmp_path,
                                                                               caplog):
    table = bbbp_with_rewritten_copies
    rows = table.rows.tolist()
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": rows[:-40], "val": [], "test": rows[-40:]}))  # each copy apart from its first
    with caplog.at_level("WARNING", logger="lgmcl_dgl.data.splits"):
        split = load_split_file(path, table)
    assert split.to_rows(table) == {"train": rows[:-40], "val": [], "test": rows[-40:]}
    assert "split.json: puts copies of 40 molecule(s) in different parts" in caplog.text
