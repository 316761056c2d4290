"""benchmarks/moleculenet.py --ablations: each row changes one thing of the pretrained model, on the harness's splits."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the scripts import their sibling _common
from _common import load_script  # noqa: E402
from child_process import child_env, sigterm_after_epochs  # noqa: E402

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
        assert cell["cpu_model"] and cell["finished"].startswith("20") and cell["seconds"] > 0  # where, when, how long
    assert "pretrained_graph_only: skipped" in capsys.readouterr().out
    models = {name: load_model(out / "work" / f"bbbp80-random-0-{name}" / "run" / "seed_0" / "model").config
              for name in ("without_text", "attention_fusion")}
    assert not models["without_text"].uses("text") and models["without_text"].fusion == "gated"
    assert models["attention_fusion"].uses("text") and models["attention_fusion"].fusion == "attention"
    assert "without_text" in (out / "table.md").read_text()


def test_a_cell_stopped_by_sigterm_continues_from_its_checkpoint_and_adds_up_its_time(moleculenet, tmp_path):
    data = tmp_path / "bbbp120.csv"
    pd.read_csv(moleculenet / "BBBP.csv").head(120)[["smiles", "p_np"]].to_csv(data, index=False)
    out = tmp_path / "table"
    argv = ["--datasets", str(data), "--protocols", "random", "--seeds", "0", "--epochs", "12", "--patience", "12",
            "--methods", "lgmcl_scratch", "--out", str(out)]
    workdir = out / "work" / "bbbp120-random-0-lgmcl_scratch"
    epoch_log = workdir / "run" / "seed_0" / "training" / "epoch_log.csv"
    child = subprocess.Popen([sys.executable, str(Path(harness.__file__)), *argv], stderr=subprocess.PIPE, text=True,
                             env=child_env())
    stderr = sigterm_after_epochs(child, epoch_log, 1, wait=300)
    assert child.returncode != 0 and "FinetuneInterrupted" in stderr, stderr[-2000:]
    assert not (out / "results.json").exists()
    before = epoch_log.read_text().splitlines()
    earlier = json.loads((workdir / "earlier_seconds.json").read_text())["seconds"]
    assert 1 < len(before) < 13 and earlier > 0

    harness.main(argv)
    after = epoch_log.read_text().splitlines()
    assert after[:len(before)] == before and len(after) == 13  # the logged epochs kept (their timings too), not redone
    cell = json.loads((out / "results.json").read_text())["bbbp120|random|0|lgmcl_scratch"]
    assert cell["seconds"] > earlier and 0 <= cell["value"] <= 1


def test_rank_summary_ranks_complete_rows_per_protocol_and_counts_pretraining_wins():
    values = {("esol", "random"): {"lgmcl_pretrained": [0.5, 0.7], "lgmcl_scratch": [0.8, 0.8], "rf": [1.2, 1.0]},
              ("bbbp", "random"): {"lgmcl_pretrained": [0.8, 0.8], "lgmcl_scratch": [0.9, 0.7], "rf": [0.95, 0.9]},
              ("bbbp", "scaffold"): {"lgmcl_pretrained": [0.7, 0.7], "lgmcl_scratch": [0.6], "rf": [0.5, 0.5]}}
    metric_of = {("esol", "random"): "rmse", ("bbbp", "random"): "roc_auc", ("bbbp", "scaffold"): "roc_auc"}
    lines = harness.rank_summary(values, metric_of, ["lgmcl_pretrained", "lgmcl_scratch", "rf"])
    # esol (lower is better): pretrained 1, scratch 2, rf 3; bbbp (higher is better): rf 1, then a tie broken by order
    assert lines[0] == ("random: mean rank (1 = best) over 2 complete rows (bbbp, esol): "
                        "lgmcl_pretrained 1.50, rf 2.00, lgmcl_scratch 2.50.")
    assert lines[1] == "scaffold: no row has every method on 2 seeds yet."
    assert lines[2] == "lgmcl_pretrained beats lgmcl_scratch on 1 of 2 rows with both on 2 seeds."


def test_wall_times_give_mean_seconds_per_row_and_method_and_the_total():
    cell = {"metric": "rmse", "value": 1.0}
    results = {"esol|random|0|rf": {**cell, "seconds": 10.0}, "esol|random|1|rf": {**cell, "seconds": 30.0},
               "esol|random|0|lgmcl_scratch": {**cell, "seconds": 3600.0}}
    lines = harness.wall_times(results, ["lgmcl_scratch", "rf"])
    assert lines[0] == "Wall time per cell in seconds (mean over seeds); 3 cells, 1.0 h in all."
    assert lines[-1] == "| esol | random | 3600 | 20 |"


def test_seeds_take_commas_or_spaces_and_rf_cores_do_not_change_the_forest(moleculenet, tmp_path):
    data = tmp_path / "bbbp100.csv"
    pd.read_csv(moleculenet / "BBBP.csv").head(100)[["smiles", "p_np"]].to_csv(data, index=False)
    common = ["--datasets", str(data), "--protocols", "random", "--methods", "rf", "--rf-trees", "50"]
    harness.main([*common, "--seeds", "0,1", "2", "--rf-jobs", "1", "--out", str(tmp_path / "one")])
    harness.main([*common, "--seeds", "0", "1", "2", "--rf-jobs", "2", "--out", str(tmp_path / "two")])
    one, two = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "two"))
    assert sorted(one) == [f"bbbp100|random|{seed}|rf" for seed in (0, 1, 2)] == sorted(two)
    assert [one[k]["value"] for k in sorted(one)] == [two[k]["value"] for k in sorted(one)]
    with pytest.raises(SystemExit):
        harness.main([*common, "--seeds", "0,one", "--out", str(tmp_path / "bad")])
