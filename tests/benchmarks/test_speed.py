"""benchmarks/speed.py: the finetune part (tiny model, BBBP slice) and the report it writes."""

import dataclasses
import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_finetune import TINY_MODEL

from lgmcl_dgl.data.splits import make_split

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the scripts import their sibling _common
from _common import load_script  # noqa: E402

speed = load_script("speed")
CHEMPROP_PYTHON = os.environ.get("LGMCL_TEST_CHEMPROP_PYTHON")  # a Python with chemprop v2, to test its timing too


@pytest.fixture
def bbbp80(moleculenet, tmp_path) -> Path:
    path = tmp_path / "bbbp80.csv"
    pd.read_csv(moleculenet / "BBBP.csv").head(80)[["smiles", "p_np"]].to_csv(path, index=False)
    return path


def test_finetune_part_and_report(bbbp80, tmp_path):
    sizes = dataclasses.replace(speed.QUICK, finetune_dataset=str(bbbp80), epochs=2, finetune_overrides=TINY_MODEL)
    report = speed.run(["finetune"], sizes, None, tmp_path / "work")
    path = speed.write_report(report, tmp_path / "results" / "speed.json")

    saved = json.loads(path.read_text())
    assert set(saved) == {"sizes", "machine", "part_seconds", "finetune", "load_average_after"}
    assert {"date", "cpu_model", "cores_usable", "memory_gib", "gpu", "load_average", "torch", "dgl",
            "rdkit"} <= set(saved["machine"])
    assert saved["machine"]["cores_usable"] > 0 and saved["part_seconds"]["finetune"] > 0
    finetune = saved["finetune"]
    assert finetune["epochs"] == 2 and finetune["chemprop"] is None
    assert finetune["split"]["train"] + finetune["split"]["val"] + finetune["split"]["test"] == 78  # 2 of the 80 SMILES are invalid
    lgmcl = finetune["lgmcl"]
    assert lgmcl["epochs_run"] == 2 and all(s > 0 for s in lgmcl["epoch_seconds"])
    assert 0 < lgmcl["seconds_per_epoch"] and 0 < sum(lgmcl["epoch_seconds"]) <= 2 * lgmcl["loop_seconds_per_epoch"]
    assert lgmcl["command_seconds"] >= 2 * lgmcl["loop_seconds_per_epoch"]
    markdown = path.with_suffix(".md").read_text()
    assert "| finetune, bbbp80 |" in markdown and "chemprop not run" in markdown


@pytest.mark.skipif(not CHEMPROP_PYTHON, reason="set LGMCL_TEST_CHEMPROP_PYTHON to a Python with chemprop v2")
def test_chemprop_epochs_are_timed(bbbp80, tmp_path):
    moleculenet = load_script("moleculenet")
    table = moleculenet.load_dataset(str(bbbp80))
    split = make_split(table, "random", (0.8, 0.1, 0.1), 0)
    epochs = 3  # chemprop needs more epochs than its 2 warm-up epochs
    timed = speed.chemprop_epochs(moleculenet, table, split, "classification", epochs, 0, CHEMPROP_PYTHON, tmp_path)
    assert timed["epochs_run"] == epochs and all(s > 0 for s in timed["epoch_seconds"])
    assert 0 < sum(timed["epoch_seconds"]) <= epochs * timed["loop_seconds_per_epoch"] <= timed["command_seconds"]
    assert timed["what"].startswith("chemprop 2.")
