"""benchmarks/speed.py: finetune (tiny model, BBBP slices), predict, sizes and the report they write."""

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
from _common import Measured, load_script, run_measured  # noqa: E402

speed = load_script("speed")
CHEMPROP_PYTHON = os.environ.get("LGMCL_TEST_CHEMPROP_PYTHON")  # a Python with chemprop v2, to test its timing too


@pytest.fixture
def bbbp_slices(moleculenet, tmp_path) -> tuple[Path, Path]:
    """80 BBBP molecules, and 60 of its largest as the 'large-molecule set'."""
    frame = pd.read_csv(moleculenet / "BBBP.csv")[["smiles", "p_np"]]
    small, large = tmp_path / "bbbp80.csv", tmp_path / "bbbp_large.csv"
    frame.head(80).to_csv(small, index=False)
    frame.loc[frame["smiles"].str.len().sort_values().index[-60:]].to_csv(large, index=False)
    return small, large


def test_padding_part_on_real_molecules(bbbp_slices, moleculenet):
    sizes = dataclasses.replace(speed.QUICK, padding_sets=("bbbp", str(bbbp_slices[1])), epochs=2)
    padding = speed.padding_part(sizes)
    assert set(padding["datasets"]) == {"bbbp", "bbbp_large"}
    for row in padding["datasets"].values():
        assert 0 < row["size_blind"] < row["size_aware"] <= 1
    assert padding["datasets"]["bbbp_large"]["molecules"] == 48  # the training part of 60


@pytest.mark.slow
def test_parts_and_report(bbbp_slices, tmp_path):
    small, _ = bbbp_slices
    sizes = dataclasses.replace(speed.QUICK, finetune_datasets=(str(small),), padding_sets=(str(small),), epochs=2,
                                predict_n=30, bucket_n=40, jobs=1, finetune_overrides=TINY_MODEL)
    report = speed.run(["finetune", "predict", "by_size"], sizes, None, tmp_path / "work")
    path = speed.write_report(report, tmp_path / "results")

    saved = json.loads(path.read_text())
    assert path.name == "speed.json" and path.with_suffix(".md").is_file()
    assert set(saved) == {"sizes", "machine", "part_seconds", "padding", "finetune", "predict", "by_size",
                          "load_average_after"}
    first = saved["finetune"][0]
    assert first["dataset"] == "bbbp80" and first["chemprop"] is None
    assert first["split"]["train"] + first["split"]["val"] + first["split"]["test"] == 78  # 2 SMILES are invalid
    for key in ("lgmcl", "lgmcl_size_blind"):
        run = first[key]
        assert run["epochs_run"] == 2 and all(s > 0 for s in run["epoch_seconds"] + run["epoch_cpu_seconds"])
        assert run["command"]["cpu_seconds"] > sum(run["epoch_cpu_seconds"])  # the child's whole tree: imports too
        assert run["command"]["peak_rss_mb"] > 100
    lgmcl = saved["predict"]["lgmcl"]
    assert lgmcl["end_to_end"]["cpu_seconds"] > lgmcl["one_molecule"]["cpu_seconds"] > 0
    assert saved["predict"]["input_floor"]["molecules"] == 30
    buckets = saved["by_size"]["buckets"]
    assert buckets[-1]["atoms"] == "128+" and buckets[-1]["molecules"] == 2  # the 492-atom molecule, twice
    assert sum(b["molecules"] for b in buckets) == 42  # 40 of the set and the giant twice
    markdown = path.with_suffix(".md").read_text()
    assert "| bbbp80 | " in markdown and "Padding efficiency" in markdown and "input floor" in markdown


def test_predict_and_sizes_need_the_finetune_part(tmp_path):
    with pytest.raises(ValueError, match="finetune"):
        speed.run(["predict"], speed.QUICK, None, tmp_path)


def test_cpu_of_a_child_tree_is_counted(tmp_path):
    """A child that spends its CPU in a grandchild: wait4 counts both; Measured counts a running child too."""
    burn = "import time; t = time.process_time(); exec('while time.process_time() - t < 0.3: pass')"
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}], check=True)"
    measured = run_measured([sys.executable, "-c", spawn])
    assert measured["cpu_seconds"] >= 0.3 and measured["peak_rss_mb"] > 0
    import subprocess

    with Measured() as inside:
        subprocess.run([sys.executable, "-c", spawn], check=True)
    assert inside.cpu_seconds >= 0.3


@pytest.mark.skipif(not CHEMPROP_PYTHON, reason="set LGMCL_TEST_CHEMPROP_PYTHON to a Python with chemprop v2")
def test_chemprop_epochs_are_timed(bbbp_slices, tmp_path):
    moleculenet = load_script("moleculenet")
    table = moleculenet.load_dataset(str(bbbp_slices[0]))
    split = make_split(table, "random", (0.8, 0.1, 0.1), 0)
    epochs = 3  # chemprop needs more epochs than its 2 warm-up epochs
    timed = speed.chemprop_epochs(moleculenet, table, split, "classification", epochs, 0, CHEMPROP_PYTHON, tmp_path)
    assert timed["epochs_run"] == epochs and all(s > 0 for s in timed["epoch_seconds"] + timed["epoch_cpu_seconds"])
    assert 0 < sum(timed["epoch_seconds"]) <= timed["command"]["wall_seconds"]
    assert timed["what"].startswith("chemprop 2.")
