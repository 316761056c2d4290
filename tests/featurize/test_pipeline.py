"""The featurize step on disk: invalid rows, odd molecules, cache hits, resume after a kill, slices."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from child_process import waits_for_lock

from lgmcl_dgl.data.artifacts import ArtifactError, Manifest
from lgmcl_dgl.data.load import InputError, load_molecules
from lgmcl_dgl.featurize import FeaturizeConfig, FeaturizedDataset, featurize, featurize_smiles
from lgmcl_dgl.featurize.dataset import DISTANCES, MoleculeRecord, collate
from lgmcl_dgl.featurize.distances import DISTANCE_FIELD

from .conftest import directory_contents

FAST = ("maccs", "erg")  # PubChem is checked elsewhere; these tests are about the pipeline


def test_bbbp_invalid_rows_in_invalid_csv(tmp_path):
    out = featurize("bbbp", tmp_path / "bbbp", FeaturizeConfig(fingerprints=("maccs",), jobs=2, progress=False))
    expected = load_molecules("bbbp").invalid
    with open(out / "invalid.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 11 == len(expected)
    assert [(int(r["row"]), r["smiles"], r["reason"]) for r in written] == [(r.row, r.smiles, r.reason) for r in expected]
    manifest = Manifest.read(out, kind="featurize")
    assert manifest.counts["n_input"] == 2050 and manifest.counts["n_valid"] == 2039 and manifest.counts["n_invalid"] == 11
    ds = FeaturizedDataset(out)
    assert len(ds) == 2039 and not set(ds.rows) & {r.row for r in expected}
    assert ds.task_names == ["p_np"] and ds.fingerprint_dim == 167


def test_odd_molecules_featurized_or_reported(edge_case_csv, tmp_path):
    out = featurize(edge_case_csv, tmp_path / "out", FeaturizeConfig(jobs=1, shard_size=4, progress=False))
    ds = FeaturizedDataset(out)
    by_row = {int(r): i for i, r in enumerate(ds.rows)}
    assert sorted(by_row) == [0, 1, 2, 5, 6, 7, 9]
    with open(out / "invalid.csv", newline="") as handle:
        invalid = {int(r["row"]): r["reason"] for r in csv.DictReader(handle)}
    assert set(invalid) == {3, 4, 8}
    assert invalid[3] == "empty SMILES" and "ring" in invalid[4].lower() and "valence" in invalid[8].lower()
    single, salt, macrocycle = ds[by_row[1]], ds[by_row[2]], ds[by_row[7]]
    assert single.node_feats.shape == (1, 39) and single.bonds.shape == (0, 2)
    assert salt.node_feats.shape == (2, 39) and salt.bond_feats.shape == (0, 10)
    assert macrocycle.node_feats.shape == (160, 39) and len(macrocycle.bonds) == 160
    assert ds.smiles[by_row[2]] == "[Cl-].[Na+]"  # canonical SMILES
    assert ds.labels.shape == (7, 2) and ds.task_names == ["active", "logp"]
    assert ds.fingerprint_dim == 1489 and ds[0].fingerprints.shape == (1489,)


def test_featurize_smiles_in_memory_matches_directory(edge_case_csv, tmp_path):
    config = FeaturizeConfig(fingerprints=FAST, progress=False, jobs=1)
    ds = FeaturizedDataset(featurize(edge_case_csv, tmp_path / "out", config))
    smiles = [line.split(",")[0] for line in edge_case_csv.read_text().splitlines()[1:]]
    results = featurize_smiles(smiles, config)
    records = [r for r in results if isinstance(r, MoleculeRecord)]
    assert [r.row for r in records] == ds.rows.tolist()
    for record, stored in zip(records, (ds[i] for i in range(len(ds)))):
        assert record.smiles == stored.smiles
        assert (record.node_feats == stored.node_feats).all() and (record.fingerprints == stored.fingerprints).all()
    assert [r.reason for r in results if not isinstance(r, MoleculeRecord)][0] == "empty SMILES"


def test_parse_errors_keep_rdkit_words_after_dgllife_disables_its_logs():
    import dgllife.model  # noqa: F401  (dgllife.data calls RDLogger.DisableLog("rdApp.*") on import)

    [result] = featurize_smiles(["C1CC"], FeaturizeConfig(fingerprints=FAST))
    assert "unclosed ring" in result.reason


def test_cache_hit_and_settings_change(edge_case_csv, tmp_path):
    out = tmp_path / "out"
    config = FeaturizeConfig(fingerprints=FAST, shard_size=3, jobs=1, progress=False)
    featurize(edge_case_csv, out, config)
    before = (out / "manifest.json").stat().st_mtime_ns
    shard_times = {p: p.stat().st_mtime_ns for p in (out / "shards").rglob("*.npy")}
    featurize(edge_case_csv, out, config)
    assert (out / "manifest.json").stat().st_mtime_ns == before
    assert {p: p.stat().st_mtime_ns for p in (out / "shards").rglob("*.npy")} == shard_times
    featurize(edge_case_csv, out, FeaturizeConfig(fingerprints=("maccs",), shard_size=5, jobs=1, progress=False))
    ds = FeaturizedDataset(out)
    assert ds.fingerprint_dim == 167 and len(list((out / "shards").iterdir())) == 2  # stale shards removed


def test_directories_written_before_distances_are_read_then_recomputed(edge_case_csv, tmp_path):
    """A featurize dir of the first shard format (no distances.npy, no shard_format setting) still loads,
    collate computes its distances, and featurize (also finetune's cache) redoes it rather than reuse it."""
    config = FeaturizeConfig(fingerprints=FAST, shard_size=3, jobs=1, progress=False)
    straight = featurize(edge_case_csv, tmp_path / "straight", config)
    stored = FeaturizedDataset(straight)
    old = tmp_path / "old"
    shutil.copytree(straight, old)
    for shard in (old / "shards").iterdir():
        (shard / f"{DISTANCES}.npy").unlink()
        meta = json.loads((shard / "shard.json").read_text())
        (shard / "shard.json").write_text(json.dumps({**meta, "key": "0" * 16}))  # keyed by the old settings
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["config"]["shard_format"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    loaded = FeaturizedDataset(old)
    assert loaded[0].distances is None and stored[0].distances is not None
    graphs = [collate([ds[i] for i in range(len(ds))]).graph for ds in (stored, loaded)]
    assert torch.equal(graphs[0].ndata[DISTANCE_FIELD], graphs[1].ndata[DISTANCE_FIELD])
    featurize(edge_case_csv, old, config)
    assert directory_contents(old) == directory_contents(straight)


def test_partial_shard_set_resumes_to_identical_output(bbbp_slice_csv, tmp_path):
    config = FeaturizeConfig(fingerprints=FAST, shard_size=20, jobs=1, progress=False)
    straight = featurize(bbbp_slice_csv, tmp_path / "straight", config)
    partial = tmp_path / "partial"
    shutil.copytree(straight, partial)
    (partial / "manifest.json").unlink()
    shards = sorted((partial / "shards").iterdir())
    shutil.rmtree(shards[3])  # never written
    (shards[7] / "shard.json").unlink()  # interrupted before its metadata: incomplete
    (shards[9] / "rows.npy").write_bytes(b"garbage")  # from other settings: its key does not match
    meta = (shards[9] / "shard.json").read_text().replace('"key": "', '"key": "x')
    (shards[9] / "shard.json").write_text(meta)
    (partial / "shards" / ".shard-000011.1234.tmp").mkdir()  # a killed writer's temporary folder
    featurize(bbbp_slice_csv, partial, config)
    assert directory_contents(partial) == directory_contents(straight)


def test_kill_and_resume_gives_identical_output(bbbp_slice_csv, tmp_path):
    argv = [sys.executable, "-m", "lgmcl_dgl", "featurize", str(bbbp_slice_csv), "--fingerprints", "maccs,erg",
            "--shard-size", "10", "--jobs", "1"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = tmp_path / "killed"
    process = subprocess.Popen([*argv, "-o", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(killed.glob("shards/shard-*/shard.json"))) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before_kill = len(list(killed.glob("shards/shard-*/shard.json")))
    assert not (killed / "manifest.json").exists() and 3 <= finished_before_kill < 40
    resumed = subprocess.run([*argv, "-o", str(killed)], env=env, capture_output=True, text=True, check=True)
    assert f"{finished_before_kill} of 40 shards already done" in resumed.stderr
    straight = featurize(bbbp_slice_csv, tmp_path / "straight",
                         FeaturizeConfig(fingerprints=FAST, shard_size=10, jobs=2, progress=False))
    assert directory_contents(killed) == directory_contents(straight)


def test_a_second_run_into_one_output_waits_for_the_first(bbbp_slice_csv, tmp_path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "lgmcl_dgl", "featurize", str(bbbp_slice_csv), "--fingerprints", "maccs,erg",
            "--shard-size", "100", "--jobs", "1", "-o", str(out)]
    waited = waits_for_lock(argv, out / ".lock", tmp_path / "stderr.log")  # as if another featurize were writing
    assert waited.returncode == 0, waited.stderr[-2000:]
    straight = featurize(bbbp_slice_csv, tmp_path / "straight", FeaturizeConfig(fingerprints=FAST, shard_size=100,
                                                                                jobs=1, progress=False))
    assert directory_contents(out) == directory_contents(straight)


def test_slices_then_merge_equal_a_straight_run(edge_case_csv, tmp_path):
    def config(**kw):
        return FeaturizeConfig(fingerprints=FAST, shard_size=2, jobs=1, progress=False, **kw)

    out = tmp_path / "sliced"
    featurize(edge_case_csv, out, config(shard_index=0, num_shards=2))
    assert not (out / "manifest.json").exists()
    with pytest.raises(ArtifactError, match="cannot merge, 2 of 5 shards"):
        featurize(edge_case_csv, out, config(merge=True))
    featurize(edge_case_csv, out, config(shard_index=1, num_shards=2))
    other_slice = (out / "shards" / "shard-000001" / "shard.json").stat().st_mtime_ns
    featurize(edge_case_csv, out, config(shard_index=0, num_shards=2, force=True))  # redoes slice 0 only
    assert (out / "shards" / "shard-000001" / "shard.json").stat().st_mtime_ns == other_slice
    featurize(edge_case_csv, out, config(merge=True))
    straight = featurize(edge_case_csv, tmp_path / "straight", config())
    assert directory_contents(out) == directory_contents(straight)


def test_bad_settings_and_output(tmp_path, edge_case_csv):
    with pytest.raises(ValueError, match="unknown fingerprint"):
        FeaturizeConfig(fingerprints=("maccs", "ecfp"))
    with pytest.raises(ValueError, match="together"):
        FeaturizeConfig(shard_index=1)
    with pytest.raises(ValueError, match="without --shard-index"):
        FeaturizeConfig(shard_index=0, num_shards=2, merge=True)
    bad = tmp_path / "bad.smi"
    bad.write_text("C1CC\nnot_smiles\n")
    with pytest.raises(InputError, match="none of 2 rows holds a valid molecule"):
        featurize(bad, tmp_path / "bad", FeaturizeConfig(fingerprints=FAST, progress=False))
    assert (tmp_path / "bad" / "invalid.csv").is_file() and not (tmp_path / "bad" / "manifest.json").exists()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not a featurize directory"):
        featurize(edge_case_csv, tmp_path / "notes", FeaturizeConfig(fingerprints=FAST, progress=False))
