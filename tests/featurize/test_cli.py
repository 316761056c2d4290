"""``lgmcl featurize`` through click: a SMILES file in, a loadable directory out, clear errors."""

from __future__ import annotations

from click.testing import CliRunner

from lgmcl_dgl.cli.main import cli
from lgmcl_dgl.featurize import FeaturizedDataset


def test_featurize_smiles_file_then_cache_hit(tmp_path):
    smiles = tmp_path / "new.smi"
    smiles.write_text("CCO ethanol\nnot_a_smiles\nc1ccccc1\n")
    out = tmp_path / "out"
    args = ["featurize", str(smiles), "-o", str(out), "--atom-featurizer", "paper", "--jobs", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "2 of 3 molecules featurized, 1 invalid" in result.output
    ds = FeaturizedDataset(out)
    assert (ds.node_feat_dim, ds.edge_feat_dim, ds.fingerprint_dim) == (57, 15, 1489) and ds.task_names == []
    written = (out / "manifest.json").stat().st_mtime_ns
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert (out / "manifest.json").stat().st_mtime_ns == written  # cache hit: nothing rewritten


def test_clear_errors(tmp_path):
    smiles = tmp_path / "new.smi"
    smiles.write_text("CCO\n")
    result = CliRunner().invoke(cli, ["featurize", str(smiles), "-o", str(tmp_path / "o"), "--fingerprints", "maccs,ecfp4"])
    assert result.exit_code != 0 and "unknown fingerprint(s) ['ecfp4']" in result.output
    result = CliRunner().invoke(cli, ["featurize", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o")])
    assert result.exit_code != 0 and "missing.csv: no such file" in result.output
    result = CliRunner().invoke(cli, ["featurize", str(smiles), "-o", str(tmp_path / "o"), "--shard-index", "0"])
    assert result.exit_code != 0 and "together" in result.output
