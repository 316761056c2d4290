"""Copies of a molecule (same canonical SMILES, however written): found, reported, merged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from lgmcl_dgl.data.duplicates import find_duplicates, merged_labels, write_duplicates_csv
from lgmcl_dgl.data.load import load_molecules


def test_bbbp_copies_and_their_conflicting_labels_are_reported(moleculenet: Path, tmp_path: Path):
    table = load_molecules(moleculenet / "BBBP.csv")
    canonical = pd.Series([Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in table.smiles])
    frame = pd.DataFrame({"smiles": canonical, "row": table.rows, "p_np": table.labels[:, 0]})
    copies = frame[canonical.duplicated(keep=False)]
    found = find_duplicates(table)
    assert len(found.groups) == copies["smiles"].nunique() > 0 and found.n_rows == len(copies)
    conflicting = copies.groupby("smiles")["p_np"].nunique() > 1
    assert sum(1 for tasks in found.conflicting if tasks == ["p_np"]) == conflicting.sum() > 0

    written = pd.read_csv(write_duplicates_csv(tmp_path / "duplicates.csv", table, found))
    assert list(written.columns) == ["molecule", "row", "smiles", "conflicting_tasks", "p_np"]
    assert sorted(written["row"]) == sorted(copies["row"])
    by_row = copies.set_index("row")
    assert (written["smiles"] == by_row.loc[written["row"], "smiles"].to_numpy()).all()
    assert (written["p_np"] == by_row.loc[written["row"], "p_np"].to_numpy()).all()
    flagged = written.groupby("smiles")["conflicting_tasks"].first().eq("p_np")
    assert flagged.sort_index().equals(conflicting.sort_index())


@pytest.mark.parametrize("task_type, expected", [
    ("regression", [[2.0, 5.0], [np.nan, 7.0]]),  # mean of the copies that have a label
    ("classification", [[1.0, 1.0], [np.nan, 1.0]]),  # majority; a tie (1 and 0) counts as positive
])
def test_merge_takes_each_task_over_the_copies_that_have_a_label(tmp_path: Path, task_type, expected):
    path = tmp_path / "copies.csv"
    rows = ["smiles,a,b", "CCO,1,", "OCC,3,", "C(C)O,,5", "c1ccccc1,,7", "C1=CC=CC=C1,,"]
    if task_type == "classification":
        rows = ["smiles,a,b", "CCO,1,", "OCC,0,", "C(C)O,,1", "c1ccccc1,,1", "C1=CC=CC=C1,,0"]
    path.write_text("\n".join(rows) + "\n")
    table = load_molecules(path)
    found = find_duplicates(table)
    assert [g.tolist() for g in found.groups] == [[0, 1, 2], [3, 4]]
    labels = merged_labels(table, found, task_type)
    np.testing.assert_array_equal(labels[[0, 3]], np.asarray(expected, np.float32))
    np.testing.assert_array_equal(labels[[1, 2, 4]], table.labels[[1, 2, 4]])  # the other copies leave the split
    assert found.copies.tolist() == [1, 2, 4]
