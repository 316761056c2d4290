"""benchmarks/moleculenet.py --ablations: each row changes one thing of the pretrained model, on the harness's splits."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the scripts import their sibling _common
from _common import load_script  # noqa: E402

harness = load_script("moleculenet")


def test_ablation_rows_switch_off_their_part_and_missing_checkpoints_are_skipped(moleculenet, tmp_path, capsys):
    from lgmcl_dgl.models.io import load_model

    data = tmp_path / "bbbp80.csv"
    pd.read_csv(moleculenet / "BBBP.csv").head(80)[["smiles", "p_np"]].to_csv(data, index=False)
    out = tmp_path / "ablations"
    harness.main(["--ablations", "--datasets", str(data), "--protocols", "random", "--seeds", "0", "--epochs", "1",
                      "--methods", "without_text,attention_fusion,pretrained_graph_only", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"bbbp80|random|0|without_text", "bbbp80|random|0|attention_fusion"}
    for cell in results.values():
        assert cell["metric"] == "roc_auc" and 0 <= cell["value"] <= 1
    assert "pretrained_graph_only: skipped" in capsys.readouterr().out
    models = {name: load_model(out / "work" / f"bbbp80-random-0-{name}" / "run" / "seed_0" / "model").config
              for name in ("without_text", "attention_fusion")}
    assert not models["without_text"].uses("text") and models["without_text"].fusion == "gated"
    assert models["attention_fusion"].uses("text") and models["attention_fusion"].fusion == "attention"
    assert "without_text" in (out / "table.md").read_text()
