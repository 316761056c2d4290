import json

import pandas as pd
import pytest

from lgmcl_dgl.data.load import InputError
from lgmcl_dgl.evaluate.run_metrics import EvaluateConfig, evaluate_run


def test_evaluate_on_a_labelled_csv(tiny_run, tmp_path):
    run, source = tiny_run
    out = evaluate_run(run, source, tmp_path / "eval")
    metrics = json.loads((out / "metrics.json").read_text())
    # BBBP rows 59 and 61 have pentavalent nitrogens; row 80 is the broken SMILES added to the slice
    assert metrics["metric"] == "roc_auc" and metrics["n_molecules"] == 78 and metrics["n_invalid"] == 3
    assert len(metrics["data"]["per_seed"]) == 2 and 0 <= metrics["ensemble"]["roc_auc"] <= 1
    assert (out / "roc.png").is_file() and pd.read_csv(out / "invalid.csv")["row"].tolist() == [59, 61, 80]


def test_evaluate_own_split_matches_finetune_metrics(tiny_run, tmp_path):
    run, _ = tiny_run
    out = evaluate_run(run, None, tmp_path / "own", EvaluateConfig(split="test"))
    recomputed = json.loads((out / "metrics.json").read_text())["test"]
    original = json.loads((run / "metrics.json").read_text())["test"]
    assert recomputed["per_seed"] == pytest.approx(original["per_seed"], abs=1e-4)


@pytest.mark.parametrize("content, message", [
    ("smiles,other\nCCO,1\n", r"no column\(s\) \['p_np'\]"),
    ("smiles,p_np\nCCO,1\nCCN,3\n", r"row 1, column 'p_np': label 3 is not 0 or 1"),
    ("smiles,p_np\nCCO,\nCCN,\n", r"column 'p_np' has no labels"),
])
def test_bad_labelled_input_is_refused(tiny_run, tmp_path, content, message):
    run, _ = tiny_run
    source = tmp_path / "bad.csv"
    source.write_text(content)
    with pytest.raises(InputError, match=message):
        evaluate_run(run, source, tmp_path / "eval")
