from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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
    assert abs(len(a.test) - 0.2 * len(table)) <= 1


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
