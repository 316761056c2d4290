"""The augment step with the rdkit backend: records, invalid rows, manifest, resume, shards, CLI."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from child_process import waits_for_lock
from click.testing import CliRunner
from rdkit import Chem

from lgmcl_dgl.cli.main import cli
from lgmcl_dgl.data.artifacts import ArtifactError, Manifest
from lgmcl_dgl.text.augment import RECORDS, AugmentConfig, augment, load_descriptions


def _lines(path):
    return (path / RECORDS).read_text().splitlines()


def test_rdkit_augment_writes_every_valid_row_and_reports_invalid(bbbp_slice, tmp_path):
    out = augment(bbbp_slice, tmp_path / "aug", AugmentConfig(n_smiles=2, seed=3, progress=False))
    records = load_descriptions(out)
    invalid = pd.read_csv(out / "invalid.csv")
    assert sorted(invalid["row"]) == [9, 11]
    assert "valence" in invalid["reason"].iloc[0]
    assert sorted(records) == [r for r in range(40) if r not in (9, 11)]
    source = pd.read_csv(bbbp_slice)
    for row, record in records.items():
        assert record.smiles == source["smiles"][row]
        assert record.backend == "rdkit" and not record.fallback
        assert record.description.startswith("Core scaffold:")
        canonical = Chem.MolToSmiles(Chem.MolFromSmiles(record.smiles))
        assert len(record.smiles_views) == 2
        assert all(Chem.MolToSmiles(Chem.MolFromSmiles(v)) == canonical for v in record.smiles_views)
    manifest = Manifest.read(out, "augment")
    assert manifest.counts["described"] == 38 and manifest.counts["invalid"] == 2
    assert [json.loads(line)["row"] for line in _lines(out)] == sorted(records)


def test_jobs_do_not_change_the_records(bbbp_slice, tmp_path):
    one = augment(bbbp_slice, tmp_path / "one", AugmentConfig(n_smiles=1, progress=False))
    two = augment(bbbp_slice, tmp_path / "two", AugmentConfig(n_smiles=1, jobs=2, progress=False))
    assert (one / RECORDS).read_bytes() == (two / RECORDS).read_bytes()


def test_resume_after_a_torn_last_line(bbbp_slice, tmp_path):
    reference = augment(bbbp_slice, tmp_path / "ref", AugmentConfig(progress=False))
    out = tmp_path / "aug"
    augment(bbbp_slice, out, AugmentConfig(progress=False))
    lines = _lines(out)
    # what a kill leaves: the manifest not yet written, 15 whole records and half of the 16th
    (out / "manifest.json").unlink()
    (out / RECORDS).write_text("\n".join(lines[:15]) + "\n" + lines[15][:40])
    (out / "augment_state.json").write_text(json.dumps({"config": AugmentConfig().identity(),
                                                        "inputs": Manifest.read(reference).inputs}))
    augment(bbbp_slice, out, AugmentConfig(progress=False))
    assert (out / RECORDS).read_bytes() == (reference / RECORDS).read_bytes()
    assert Manifest.read(out).counts["resumed"] == 15


def test_a_second_run_into_one_output_waits_for_the_first(bbbp_slice, tmp_path):
    out = tmp_path / "aug"
    argv = [sys.executable, "-m", "lgmcl_dgl", "augment", str(bbbp_slice), "-o", str(out), "--quiet"]
    waited = waits_for_lock(argv, out / ".lock", tmp_path / "stderr.log")  # as if another augment were writing
    assert waited.returncode == 0, waited.stderr[-2000:]
    reference = augment(bbbp_slice, tmp_path / "ref", AugmentConfig(progress=False))
    assert (out / RECORDS).read_bytes() == (reference / RECORDS).read_bytes()
    assert Manifest.read(out).counts["described"] == 38


def test_other_settings_need_overwrite(bbbp_slice, tmp_path):
    out = augment(bbbp_slice, tmp_path / "aug", AugmentConfig(progress=False))
    with pytest.raises(ArtifactError, match="--overwrite"):
        augment(bbbp_slice, out, AugmentConfig(n_smiles=2, progress=False))
    augment(bbbp_slice, out, AugmentConfig(n_smiles=2, overwrite=True, progress=False))
    records = (out / RECORDS).read_text()
    assert all(len(r.smiles_views) == 2 for r in load_descriptions(out).values())
    (out / RECORDS).write_text(records.replace("Core scaffold", "Tampered"))
    assert augment(bbbp_slice, out, AugmentConfig(n_smiles=2, progress=False)) == out  # a cache hit keeps it
    assert "Tampered" in (out / RECORDS).read_text()
    augment(bbbp_slice, out, AugmentConfig(n_smiles=2, overwrite=True, progress=False))
    assert (out / RECORDS).read_text() == records


def test_slices_merge_into_what_one_run_writes(bbbp_slice, tmp_path):
    whole = augment(bbbp_slice, tmp_path / "whole", AugmentConfig(n_smiles=1, progress=False))
    out = tmp_path / "sliced"
    for index in (2, 0):
        augment(bbbp_slice, out, AugmentConfig(n_smiles=1, shard_index=index, num_shards=3, progress=False))
    with pytest.raises(ArtifactError, match="slice 1 of 3 is not finished"):
        augment(bbbp_slice, out, AugmentConfig(n_smiles=1, num_shards=3, merge=True, progress=False))
    with pytest.raises(ArtifactError, match="not merged"):
        load_descriptions(out)
    augment(bbbp_slice, out, AugmentConfig(n_smiles=1, shard_index=1, num_shards=3, progress=False))
    augment(bbbp_slice, out, AugmentConfig(n_smiles=1, num_shards=3, merge=True, progress=False))
    assert (out / RECORDS).read_bytes() == (whole / RECORDS).read_bytes()
    assert (out / "invalid.csv").read_text() == (whole / "invalid.csv").read_text()
    merged, single = Manifest.read(out), Manifest.read(whole)
    assert merged.config == single.config and merged.counts["described"] == single.counts["described"] == 38
    # the merged dir is a cache hit for the unsharded settings
    assert augment(bbbp_slice, out, AugmentConfig(n_smiles=1, progress=False)) == out


def test_unfinished_directory_is_not_loaded(bbbp_slice, tmp_path):
    out = augment(bbbp_slice, tmp_path / "aug", AugmentConfig(progress=False))
    (out / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="not a finished augment directory"):
        load_descriptions(out)


def test_cli_augment(bbbp_slice, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(cli, ["augment", str(bbbp_slice), "-o", str(out), "--n-smiles", "1", "--jobs", "2",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert "38 described" in result.output
    assert len(load_descriptions(out)) == 38
    bad = CliRunner().invoke(cli, ["augment", str(tmp_path / "missing.csv"), "-o", str(out)])
    assert bad.exit_code != 0 and "missing.csv" in bad.output
    bad = CliRunner().invoke(cli, ["augment", str(bbbp_slice), "-o", str(tmp_path / "x"), "--backend", "openai"])
    assert bad.exit_code != 0 and "--model" in bad.output


@pytest.mark.slow  # featurize imports DGL and dgllife: ~20 s on a loaded machine
def test_featurize_directory_as_input(bbbp_slice, tmp_path):
    from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize

    features = featurize(bbbp_slice, tmp_path / "features", FeaturizeConfig(fingerprints=("maccs",), jobs=1,
                                                                            progress=False))
    from_features = load_descriptions(augment(features, tmp_path / "aug", AugmentConfig(progress=False)))
    from_csv = load_descriptions(augment(bbbp_slice, tmp_path / "csv", AugmentConfig(progress=False)))
    assert sorted(from_features) == sorted(from_csv)
    assert all(from_features[r].description == from_csv[r].description for r in from_csv)
