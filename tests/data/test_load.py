from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from lgmcl_dgl.data.load import (InputError, load_molecules, parse_smiles, read_table, smiles_problem,
                                 write_invalid_csv)


def test_bbbp_reports_every_unparseable_row(moleculenet: Path, tmp_path: Path):
    table = load_molecules(moleculenet / "BBBP.csv")
    assert table.n_input == 2050
    assert len(table) == 2039 and len(table.invalid) == 11
    # every input row is either a molecule or reported, never both, never neither
    assert sorted([*table.rows.tolist(), *[r.row for r in table.invalid]]) == list(range(2050))
    raw = pd.read_csv(moleculenet / "BBBP.csv")
    for bad in table.invalid:
        assert raw.smiles[bad.row] == bad.smiles
        assert "valence" in bad.reason.lower()
    out = write_invalid_csv(tmp_path / "invalid.csv", table.invalid)
    assert pd.read_csv(out).row.tolist() == [r.row for r in table.invalid]


def test_missing_labels_stay_missing(moleculenet: Path):
    table = load_molecules(moleculenet / "tox21.csv.gz")  # gzip, LF, sparse labels
    assert table.labels.shape == (7823, 12)
    raw = pd.read_csv(moleculenet / "tox21.csv.gz")
    assert int(table.mask.sum()) == int(raw[table.task_names].notna().to_numpy()[table.rows].sum())
    assert np.isnan(table.labels).any() and set(np.unique(table.labels[table.mask])) == {0.0, 1.0}
    assert "mol_id" not in table.task_names  # text column is not a target


def test_crlf_and_registry_columns(moleculenet: Path):
    table = load_molecules(moleculenet / "bace.csv", target_columns=["Class"])  # CRLF, SMILES column "mol"
    assert table.task_names == ["Class"] and len(table) == 1513 and table.smiles[0].startswith("O1CC[C@@H]")
    esol = load_molecules(moleculenet / "delaney-processed.csv", target_columns=["measured log solubility in mols per litre"])
    assert esol.labels[0, 0] == pytest.approx(-0.77)


def test_error_messages_name_file_row_and_column(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,y\nCCO,1\nCCN,high\n")
    with pytest.raises(InputError, match=r"bad.csv: row 1 \(line 3\), column 'y'.*'high'"):
        read_table(bad, target_columns=["y"])
    with pytest.raises(InputError, match="no column.*'activity'"):
        read_table(bad, target_columns=["activity"])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty file"):
        read_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("smiles,y\n")
    with pytest.raises(InputError, match="no data rows"):
        read_table(header_only)
    nothing_valid = tmp_path / "nothing.csv"
    nothing_valid.write_text("smiles,y\nC1CC(,1\nxyz,0\n")
    with pytest.raises(InputError, match="none of 2 rows"):
        load_molecules(nothing_valid)


def test_a_blank_line_is_a_row_with_an_empty_smiles_not_skipped(tmp_path: Path):
    """A spreadsheet saves an empty cell of a one-column sheet as a blank line: later rows keep their numbers."""
    one_column = tmp_path / "one.csv"
    one_column.write_text("smiles\nCCO\n\nc1ccccc1O\n")
    table = load_molecules(one_column)
    assert table.n_input == 3 and table.rows.tolist() == [0, 2] and table.smiles == ["CCO", "c1ccccc1O"]
    assert [(r.row, r.reason) for r in table.invalid] == [(1, "empty SMILES")]
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("smiles,y\nCCO,1\n\nCCN,high\n")
    with pytest.raises(InputError, match=r"row 2 \(line 4\), column 'y'"):  # the file's own line
        read_table(labelled, target_columns=["y"])


def test_gzip_csv_and_smiles_file(tmp_path: Path):
    path = tmp_path / "mols.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("SMILES\r\nCCO\r\nc1ccccc1\r\n")
    table = load_molecules(path)
    assert table.smiles == ["CCO", "c1ccccc1"] and table.task_names == []
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO ethanol\nnot_a_smiles\nC\n")
    table = load_molecules(smi)
    assert table.smiles == ["CCO", "C"] and [r.row for r in table.invalid] == [1]


def test_smiles_problem_reasons():
    assert smiles_problem("CCO")[1] is None
    assert "Parse Error" in smiles_problem("C1CC(")[1]
    assert smiles_problem("")[1] == "empty SMILES"
    assert smiles_problem("[Na+].[Cl-]")[1] is None


def test_parse_smiles_gives_the_default_parse_or_smiles_problems_reason():
    mol, reason = parse_smiles("[H]OC([H])=O")
    assert reason is None and Chem.MolToSmiles(mol) == Chem.MolToSmiles(Chem.MolFromSmiles("[H]OC([H])=O"))
    for smiles in ("C1CC(", "", "C(C)(C)(C)(C)C", "not_a_smiles"):
        assert parse_smiles(smiles) == (None, smiles_problem(smiles)[1])


def _latin1_csv(path: Path, rows_before: int) -> Path:
    """A CSV saved by an older spreadsheet: latin-1, one accented name ``rows_before`` rows in, far beyond the
    first read buffer when ``rows_before`` is large."""
    lines = ["name,smiles,y"] + [f"m{i},CCO,{i % 2}" for i in range(rows_before)] + ["Caféine,Cn1cnc2c1c(=O)n(C)c(=O)n2C,1"]
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


@pytest.mark.parametrize("rows_before", [2, 30_000])
def test_a_non_utf8_file_names_its_row_and_the_encoding_option(tmp_path: Path, rows_before: int):
    path = _latin1_csv(tmp_path / "old.csv", rows_before)
    with pytest.raises(InputError) as error:
        read_table(path)
    message = str(error.value)
    assert message.startswith(f"{path}: row {rows_before} (line {rows_before + 2}) is not valid utf-8 (byte 0xe9)")
    assert "--encoding" in message
    table = read_table(path, encoding="latin-1")
    assert table.n_input == rows_before + 1 and table.smiles[-1] == "Cn1cnc2c1c(=O)n(C)c(=O)n2C"


def test_a_non_utf8_smiles_file_names_its_line(tmp_path: Path):
    path = tmp_path / "m.smi"
    path.write_bytes("CCO ethanol\nCn1cnc2c1c(=O)n(C)c(=O)n2C caféine\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"m.smi: row 1 \(line 2\) is not valid utf-8 .*--encoding"):
        read_table(path)
    assert read_table(path, encoding="cp1252").smiles == ["CCO", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"]
