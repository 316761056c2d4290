from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from lgmcl_dgl.data.load import (InputError, check_guessed_targets, load_molecules, parse_smiles, read_table,
                                 smiles_problem, write_invalid_csv)


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
    raw = pd.read_csv(moleculenet / "tox21.csv.gz")
    assert table.labels.shape == (len(raw) - len(table.invalid), 12) and table.n_input == len(raw)
    assert int(table.mask.sum()) == int(raw[table.task_names].notna().to_numpy()[table.rows].sum())
    assert np.isnan(table.labels).any() and set(np.unique(table.labels[table.mask])) == {0.0, 1.0}
    assert "mol_id" not in table.task_names  # text column is not a target


def test_crlf_and_registry_columns(moleculenet: Path):
    table = load_molecules(moleculenet / "bace.csv", target_columns=["Class"])  # CRLF, SMILES column "mol"
    assert b"\r\n" in (moleculenet / "bace.csv").read_bytes()
    raw = pd.read_csv(moleculenet / "bace.csv")
    assert table.task_names == ["Class"] and table.smiles == raw["mol"].tolist()
    assert table.labels[:, 0].tolist() == raw["Class"].tolist()
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


def _bbbp_with(tmp_path: Path, moleculenet: Path, row: int, p_np: str) -> Path:
    """The whole real BBBP file (columns num,name,p_np,smiles) with one p_np cell replaced."""
    frame = pd.read_csv(moleculenet / "BBBP.csv", dtype=str, keep_default_na=False)
    frame.loc[row, "p_np"] = p_np
    path = tmp_path / "bbbp.csv"
    frame.to_csv(path, index=False)
    return path


def test_without_target_columns_only_the_label_column_is_chosen_and_said(moleculenet: Path, caplog):
    with caplog.at_level("INFO", logger="lgmcl_dgl.data.load"):
        table = read_table(moleculenet / "BBBP.csv")
    assert table.task_names == ["p_np"]  # not the row number 'num', not the text 'name'
    assert "label column(s) p_np" in caplog.text and "ID-like num" in caplog.text and "text name" in caplog.text
    tox21 = read_table(moleculenet / "tox21.csv.gz")  # twelve 0/1 tasks: multi-task classification
    assert len(tox21.task_names) == 12 and "mol_id" not in tox21.task_names


def test_a_text_cell_in_the_label_column_is_an_error_not_a_dropped_column(moleculenet: Path, tmp_path: Path):
    wrong = _bbbp_with(tmp_path, moleculenet, 1234, "active")
    with pytest.raises(InputError, match=r"bbbp.csv: row 1234 \(line 1236\), column 'p_np'.*'active'"):
        read_table(wrong)


@pytest.mark.parametrize("header, rows", [
    ("id,smiles,y", ["7,CCO,0.5", "3,CCN,1.5", "9,CCC,2.5"]),  # named like an ID
    ("Compound No.,smiles,y", ["1,CCO,0.5", "1,CCN,1.5", "2,CCC,2.5"]),
    ("molID,smiles,y", ["1,CCO,0.5", "1,CCN,1.5", "2,CCC,2.5"]),
    ("batch,smiles,y", [f"{7 * i + 3},{'C' * (i + 1)},{i % 3}.5" for i in range(20)]),  # distinct integers
])
def test_an_id_like_column_is_never_a_task(tmp_path: Path, header: str, rows: list[str]):
    path = tmp_path / "data.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    assert read_table(path).task_names == ["y"]


def test_several_guessed_columns_to_train_on_must_all_be_classes(moleculenet: Path):
    esol = read_table(moleculenet / "delaney-processed.csv")  # its descriptors beside the measured solubility
    assert "Compound ID" not in esol.task_names and len(esol.task_names) == 8
    with pytest.raises(InputError, match="delaney-processed.csv: cannot tell which of the numeric columns.*"
                                         "--target-columns"):
        check_guessed_targets(esol)
    for multi_task in ("tox21.csv.gz", "BBBP.csv"):
        check_guessed_targets(read_table(moleculenet / multi_task))


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
