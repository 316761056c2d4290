"""The import backend: descriptions made elsewhere (the reference's CSV ``id,text``, or JSONL by row / SMILES)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lgmcl_dgl.data.load import InputError
from lgmcl_dgl.text.augment import AugmentConfig, augment, load_descriptions


def _config(path, **kw) -> AugmentConfig:
    return AugmentConfig(backend="import", options={"descriptions": str(path)}, progress=False, **kw)


def test_reference_csv_with_one_based_ids(bbbp_slice, tmp_path):
    # the reference released one row per molecule: id = 1-based data row; here rows 0-19 only
    texts = {row + 1: json.dumps({"note": f"molecule {row}"}) if row % 2 else f"free text {row}" for row in range(20)}
    path = tmp_path / "reference.csv"
    pd.DataFrame({"id": list(texts), "text": list(texts.values())}).to_csv(path, index=False)
    out = augment(bbbp_slice, tmp_path / "aug", _config(path))
    records = load_descriptions(out)
    assert records[0].description == "free text 0"
    assert records[3].description == json.dumps({"note": "molecule 3"})  # as given
    assert sorted(records) == [r for r in range(20) if r not in (9, 11)]
    failed = pd.read_csv(out / "failed.csv")
    assert failed["row"].tolist() == list(range(20, 40))
    assert (failed["reason"] == "no description in reference.csv").all()

    out = augment(bbbp_slice, tmp_path / "filled", _config(path, fallback="rdkit"))
    records = load_descriptions(out)
    assert len(records) == 38 and records[25].fallback and not records[0].fallback


def test_jsonl_keyed_by_smiles(bbbp_slice, tmp_path):
    source = pd.read_csv(bbbp_slice)["smiles"]
    path = tmp_path / "by_smiles.jsonl"
    with open(path, "w") as handle:
        for row in (0, 1, 2):
            handle.write(json.dumps({"smiles": source[row], "description": f"text {row}"}) + "\n")
    out = augment(bbbp_slice, tmp_path / "aug", _config(path))
    records = load_descriptions(out)
    assert {row: r.description for row, r in records.items()} == {0: "text 0", 1: "text 1", 2: "text 2"}


def test_bad_description_files_are_named(bbbp_slice, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("key,words\n1,x\n")
    with pytest.raises(InputError, match="needs a key column"):
        augment(bbbp_slice, tmp_path / "aug", _config(path))
    path.write_text("id,text\n1,a\n1,b\n")
    with pytest.raises(InputError, match="line 3: id '1' is described twice"):
        augment(bbbp_slice, tmp_path / "aug", _config(path))
