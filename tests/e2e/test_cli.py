"""Whole CLI runs: finetune -> evaluate -> predict on a BBBP slice (fast), and the bare `lgmcl finetune` (slow)."""

import json
import time

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from tiny_finetune import TINY_MODEL, slice_csv

from lgmcl_dgl.cli.main import cli
from lgmcl_dgl.models.config import apply_overrides, load_preset


def _invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # without the progress bars and logs on stderr


def test_finetune_evaluate_predict_on_a_slice(moleculenet, tmp_path):
    source = slice_csv(moleculenet / "BBBP.csv", tmp_path / "bbbp200.csv", 200)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(apply_overrides(load_preset("small").to_dict(), TINY_MODEL)))
    run = tmp_path / "run"
    output = _invoke("finetune", source, "-o", run, "--config", config, "--target-columns", "p_np", "--epochs", 2,
                     "--seeds", 0, 1, "--split", "scaffold", "--split-sizes", 0.6, 0.2, 0.2, "--jobs", 1)
    assert output.strip().splitlines()[-1].startswith("test ROC-AUC") and "over seed(s) 0, 1" in output
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["test"]["per_seed"]) == 2
    assert f"{metrics['test']['mean']:.3f}" in output
    assert f"seed ensemble {metrics['ensemble']['test']['roc_auc']:.3f}" in output  # a scaffold split: one test part

    output = _invoke("evaluate", run, "--split", "test")
    own = json.loads((run / "evaluations" / "test" / "metrics.json").read_text())
    assert own["test"]["per_seed"] == pytest.approx(metrics["test"]["per_seed"], abs=1e-4)

    new = tmp_path / "new.csv"
    new.write_text("smiles\nCCO\nnonsense\nCC(=O)Oc1ccccc1C(=O)O\n")
    output = _invoke("predict", run, new, "-o", tmp_path / "pred.csv")
    assert "3 rows, 1 could not be predicted" in output
    frame = pd.read_csv(tmp_path / "pred.csv", keep_default_na=False)
    assert frame["smiles"].tolist() == ["CCO", "nonsense", "CC(=O)Oc1ccccc1C(=O)O"]
    assert list(frame.columns) == ["row", "smiles", "p_np", "p_np_std", "ad_max_similarity", "ad_nearest_train_smiles",
                                   "ad_in_domain", "error"]

    output = _invoke("evaluate", run, source, "-o", tmp_path / "eval")
    assert "seed-ensemble" in output and (tmp_path / "eval" / "metrics.json").is_file()


def test_one_seed_prints_its_value_and_the_tasks_it_could_not_score(moleculenet, tmp_path):
    """No '+- 0.000' for a single seed; a task with one class in a part is named on the console, not only in
    metrics.json."""
    frame = pd.read_csv(moleculenet / "BBBP.csv", nrows=60)[["smiles", "p_np"]]
    frame["rare"] = [1, 1] + [0] * 58  # rows 0 and 1 hold its only positives
    source = tmp_path / "two_tasks.csv"
    frame.to_csv(source, index=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(apply_overrides(load_preset("small").to_dict(), TINY_MODEL)))
    split = tmp_path / "split.json"
    parts = {"train": list(range(0, 40)), "val": list(range(40, 50)), "test": list(range(50, 59))}  # 59 is invalid
    split.write_text(json.dumps(parts))
    output = _invoke("finetune", source, "-o", tmp_path / "run", "--config", config, "--epochs", 1, "--jobs", 1,
                     "--split-file", split, "--modalities", "local", "fingerprints")
    lines = output.strip().splitlines()
    assert "not in the test ROC-AUC, one class only in that part: rare" in lines
    assert any(line.startswith("not in the val ROC-AUC, one class only in that part: ") and "rare" in line
               for line in lines)
    assert lines[-1].startswith("test ROC-AUC ") and "+-" not in lines[-1] and "over seed(s) 0" in lines[-1]

    lines = _invoke("evaluate", tmp_path / "run", "--split", "test").strip().splitlines()
    assert lines[0] == "not in the roc_auc, one class only: rare" and "+-" not in lines[1]


def test_bad_input_is_one_clear_line(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("smiles,y\nCCO,0\nCCN,7\n")
    result = CliRunner().invoke(cli, ["finetune", str(source), "-o", str(tmp_path / "run"), "--task-type",
                                      "classification"])
    assert result.exit_code != 0
    assert "row 1, column 'y': label 7 is not 0 or 1" in result.output and "Traceback" not in result.output


def test_encoding_is_an_option_of_every_command_that_reads_input(tmp_path):
    source = tmp_path / "old.csv"
    source.write_bytes("name,smiles\nethanol,CCO\nCaféine,Cn1cnc2c1c(=O)n(C)c(=O)n2C\n".encode("latin-1"))
    result = CliRunner().invoke(cli, ["featurize", str(source), "-o", str(tmp_path / "feat"), "--jobs", "1"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "old.csv: row 1 (line 3) is not valid utf-8 (byte 0xe9); give the file's encoding with --encoding" in result.output
    _invoke("featurize", source, "-o", tmp_path / "feat", "--jobs", 1, "--encoding", "latin-1")
    for command in ("featurize", "augment", "pretrain", "finetune", "evaluate", "predict"):
        result = CliRunner().invoke(cli, [command, "--encoding", "klingon", "x", "y"])
        assert result.exit_code == 2 and "unknown encoding 'klingon'" in result.output, command


@pytest.mark.slow
def test_bare_finetune_runs_on_the_shipped_bbbp(tmp_path, monkeypatch):
    """README's first command: no arguments, the embedded BBBP, the small preset, a test ROC-AUC at the end."""
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    output = _invoke("finetune")
    seconds = time.monotonic() - started
    print(f"bare `lgmcl finetune`: {seconds:.0f} s, {output.strip().splitlines()[-1]}")
    metrics = json.loads((tmp_path / "lgmcl-runs" / "bbbp" / "metrics.json").read_text())
    assert output.strip().splitlines()[-1].startswith("test ROC-AUC")
    assert metrics["metric"] == "roc_auc" and 0.5 < metrics["test"]["mean"] <= 1.0
