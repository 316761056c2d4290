"""benchmarks/fault_injection.py: one kill of a tiny featurize run, and a comparison that sees what a kill could spoil."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the scripts import their sibling _common
from _common import load_script  # noqa: E402

faults = load_script("fault_injection")


@pytest.mark.shared  # the script draws its molecules from the MOSES files of ../shared/data
def test_one_kill_of_featurize_resumes_to_identical_outputs(tmp_path):
    out = tmp_path / "faults.json"
    report = faults.main(["--points", "1", "--steps", "featurize", "--molecules", "60", "--work", str(tmp_path / "work"),
                          "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(report))
    featurize = saved["steps"]["featurize"]
    assert featurize["summary"] == "1 of 1 identical", featurize["points"]
    assert featurize["compared_files"] > 10 and featurize["points"][0]["rerun_exit"] == 0


def test_the_comparison_ignores_times_and_sees_leftovers_and_changed_values(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, created, seconds in ((a, "2026-01-01", 1.5), (b, "2026-01-02", 9.0)):
        (folder / "sub").mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"created": created, "counts": {"n": 3}}))
        (folder / "sub" / "log.csv").write_text(f"step,loss,mol_per_s\n1,0.5,{seconds}\n")
        (folder / ".lock").touch()
    assert faults.differences(faults.fingerprint(a), faults.fingerprint(b)) == []
    (b / "sub" / ".shard.tmp").write_bytes(b"half")
    (b / "sub" / "log.csv").write_text("step,loss,mol_per_s\n1,0.6,1.5\n")
    assert faults.differences(faults.fingerprint(a), faults.fingerprint(b)) == ["extra sub/.shard.tmp",
                                                                                "differs sub/log.csv"]
