"""``lgmcl pretrain`` on a tiny real corpus: outputs, kill -9 + corrupted checkpoint + resume, loading."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lgmcl_dgl.cli.main import cli
from lgmcl_dgl.data.artifacts import LOCK, exclusive
from lgmcl_dgl.pretrain import resolve_pretrained, retrieval_accuracy
from lgmcl_dgl.train.checkpoint import list_checkpoints

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = ["embed_dim=16", "local.hidden=16", "global.d_model=16", "global.heads=2", "global.ffn_dim=32",
              "global.layers=1", "text.hidden=16", "text.heads=2", "text.intermediate=32", "text.layers=1",
              "text.max_length=48", "text.vocab_size=300"]


@pytest.fixture(scope="module")
def corpus(sample_data, tmp_path_factory) -> Path:
    """24 MOSES molecules (the pretraining corpus' source), featurised and described once for the module."""
    import pandas as pd

    folder = tmp_path_factory.mktemp("corpus")
    smiles = pd.read_csv(sample_data / "pretrain" / "moses_test.csv.gz", nrows=24)["SMILES"]
    pd.DataFrame({"smiles": smiles}).to_csv(folder / "zinc24.csv", index=False)
    return folder / "zinc24.csv"


def args(corpus: Path, out: Path, *extra: str) -> list[str]:
    options = [str(corpus), "-o", str(out), "--batch-size", "8", "--lr", "3e-3", "--warmup-steps", "2",
               "--checkpoint-every", "2", "--log-every", "1", "--smiles-views", "2", "--quiet", "--seed", "3"]
    for item in TINY_MODEL:
        options += ["--set", item]
    return ["pretrain", *options, *extra]


def losses(out: Path) -> list[tuple[str, ...]]:
    with open(out / "train_log.csv", newline="") as handle:
        return [(r["step"], r["loss"], r["loss_graph"], r["loss_text"], r["loss_cross"], r["lr"])
                for r in csv.DictReader(handle)]


def test_pretrain_writes_a_loadable_model_and_logs(corpus, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, args(corpus, out, "--epochs", "3"))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "pretrain" and manifest["counts"]["steps"] == 9
    assert manifest["counts"]["molecules_seen"] == 72
    rows = losses(out)
    assert len(rows) == 9 and float(rows[-1][1]) < float(rows[0][1])  # the contrastive losses fall
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert {"peak_memory_mb", "mol_per_s"} <= set(next(csv.DictReader(open(out / "epoch_log.csv"))))

    from lgmcl_dgl.models.io import load_model

    assert resolve_pretrained(out) == out
    model = load_model(out)
    assert model.config.text.max_length == 48 and model.config.embed_dim == 16
    assert (out / "tokenizer" / "tokenizer_config.json").is_file()

    import pandas as pd

    from lgmcl_dgl.featurize.pipeline import featurize_smiles
    from lgmcl_dgl.text.augment import rdkit_description
    from lgmcl_dgl.text.tokenizer import load_tokenizer

    smiles = pd.read_csv(corpus)["smiles"].tolist()
    scores = retrieval_accuracy(model, load_tokenizer(out / "tokenizer"), featurize_smiles(smiles),
                                [rdkit_description(s) for s in smiles])
    assert scores["n"] == 24 and scores["chance_top1"] == pytest.approx(1 / 24)
    for kind in ("description", "smiles", "text"):
        assert 0 <= scores[f"graph_to_{kind}_top1"] <= scores[f"graph_to_{kind}_top5"] <= 1

    again = CliRunner().invoke(cli, args(corpus, out, "--epochs", "3", "--temperature", "0.2"))
    assert again.exit_code != 0 and "temperature" in again.output  # a different run needs its own directory


def test_several_input_files_train_as_their_concatenation(corpus, tmp_path):
    import pandas as pd

    smiles = pd.read_csv(corpus)["smiles"]
    first, second = tmp_path / "first.csv", tmp_path / "second.smi"
    smiles[:16].to_frame().to_csv(first, index=False)
    second.write_text("\n".join(smiles[16:]) + "\n")
    joined, single = tmp_path / "joined", tmp_path / "single"
    result = CliRunner().invoke(cli, [*args(first, joined, "--epochs", "1"), str(second)])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(cli, args(corpus, single, "--epochs", "1")).exit_code == 0
    manifest = json.loads((joined / "manifest.json").read_text())
    assert manifest["counts"]["molecules"] == 24 and set(manifest["inputs"]) == {"input0", "input1"}
    assert losses(joined) == losses(single)


def test_a_second_run_into_a_held_output_stops_at_once_and_touches_nothing(corpus, tmp_path):
    out = tmp_path / "run"
    with exclusive(out / LOCK):  # as if another pretrain were writing OUT
        result = CliRunner().invoke(cli, args(corpus, out, "--epochs", "1"))
    assert result.exit_code != 0 and "another process is writing here" in result.output, result.output
    assert [p.name for p in out.iterdir()] == [LOCK]
    result = CliRunner().invoke(cli, args(corpus, out, "--epochs", "1"))  # released: a fresh OUT, lock file and all
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["counts"]["steps"] == 3


def test_kill_9_and_a_corrupted_checkpoint_then_resume_equals_a_straight_run(corpus, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    # Both runs in a subprocess with one thread: CPU kernels (LayerNorm backward) round differently
    # for other thread counts, and this test compares the loss curves exactly.
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    first = subprocess.run([sys.executable, "-m", "lgmcl_dgl", *args(corpus, straight, "--epochs", "3")],
                           env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    reuse = ["--featurized", str(straight / "data" / "featurize"), "--descriptions", str(straight / "data" / "augment")]
    command = [sys.executable, "-m", "lgmcl_dgl", *args(corpus, killed, "--epochs", "3", *reuse)]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list_checkpoints(killed / "checkpoints")) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = list_checkpoints(killed / "checkpoints")
    assert saved and not (killed / "manifest.json").exists()
    weights = saved[-1] / "model.safetensors"  # the newest checkpoint rots on disk
    weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])

    resumed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "falling back" in resumed.stderr
    assert losses(killed) == losses(straight)


@pytest.mark.slow
def test_torchrun_two_processes_match_one(corpus, tmp_path):
    """The whole pretrain command under torchrun (gloo): same losses as one process, dropout off."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    no_dropout = ["--set", "local.dropout=0", "--set", "global.dropout=0", "--set", "global.attn_dropout=0",
                  "--set", "text.dropout=0", "--max-steps", "4"]
    runs = {"one": [sys.executable, "-m", "lgmcl_dgl"],
            "two": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "lgmcl_dgl"]}
    for name, launcher in runs.items():
        subprocess.run([*launcher, *args(corpus, tmp_path / name, *no_dropout)], env=env, cwd=REPO, check=True,
                       capture_output=True, timeout=600)
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 4
    for a, b in zip(one, two):
        assert [float(x) for x in a] == pytest.approx([float(x) for x in b], rel=1e-5)


def test_unknown_pretrained_name_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="not a shipped pretrained model"):
        resolve_pretrained("no-such-model")


def test_shipped_zinc_small_is_complete_and_fits_finetune():
    from lgmcl_dgl.data.artifacts import Manifest, sha256_file
    from lgmcl_dgl.featurize.graphs import feature_dims
    from lgmcl_dgl.models.io import load_model
    from lgmcl_dgl.text.tokenizer import load_tokenizer

    path = resolve_pretrained("zinc-small")
    manifest = Manifest.read(path, kind="pretrained")
    assert manifest.extra["files"] and manifest.counts["steps"] > 0
    for name, digest in manifest.extra["files"].items():
        assert sha256_file(path / name) == digest, name
    model = load_model(path)
    assert model.config.text.vocab_size == len(load_tokenizer(path / "tokenizer"))
    assert (model.config.node_feat_dim, model.config.edge_feat_dim) == feature_dims("attentivefp")
    retrieval = manifest.extra["retrieval_heldout_1k"]
    assert retrieval["graph_to_text_top1"] > 10 * retrieval["chance_top1"]


@pytest.mark.parametrize("objective, kept, dropped", [("graph", "local", "text"), ("text", "text", "local")])
def test_one_objective_saves_only_what_it_trains_and_finetunes_with_every_branch(
        corpus, tmp_path, moleculenet, objective, kept, dropped):
    """The objective ablation: encoders no objective trained are not saved; fine-tuning starts them fresh."""
    from safetensors.torch import load_file

    from lgmcl_dgl.finetune import finetune
    from lgmcl_dgl.models.io import WEIGHTS_FILE, load_model
    from tests.tiny_finetune import slice_csv, tiny_config

    out = tmp_path / objective
    result = CliRunner().invoke(cli, args(corpus, out, "--epochs", "1", "--objectives", objective))
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.config.uses(kept) and not model.config.uses(dropped)
    assert (out / "tokenizer").is_dir() == (objective == "text")
    prefixes = {key.split(".")[0] for key in load_file(str(out / WEIGHTS_FILE))}
    assert ("text_encoder" in prefixes) == (objective == "text") and ("local" in prefixes) == (objective == "graph")

    data = slice_csv(moleculenet / "BBBP.csv", tmp_path / "bbbp.csv", 40)
    run = finetune(data, tmp_path / "run", tiny_config(pretrained=str(out), epochs=1, overrides={},
                                                       target_columns=["p_np"],
                                                       modalities=["local", "global", "text", "fingerprints"]))
    tuned = load_model(run / "seed_0" / "model")
    assert all(tuned.config.uses(m) for m in ("local", "global", "text", "fingerprints"))
