import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from child_process import child_env, sigterm_after_epochs
from tiny_finetune import slice_csv, tiny_config

from lgmcl_dgl.data.artifacts import LOCK, ArtifactError, Manifest, exclusive
from lgmcl_dgl.data.load import InputError
from lgmcl_dgl.finetune import finetune
from lgmcl_dgl.train.checkpoint import list_checkpoints


@pytest.fixture
def bbbp60(moleculenet, tmp_path):
    return slice_csv(moleculenet / "BBBP.csv", tmp_path / "bbbp60.csv", 60, ("999,broken,0,XYZ",))


def test_run_dir_holds_what_predict_and_people_need(bbbp60, tmp_path):
    run = finetune(bbbp60, tmp_path / "run", tiny_config(target_columns=["p_np"], split="scaffold"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["metric"] == "roc_auc" and metrics["seeds"] == [0]
    for part in ("test", "val"):
        assert set(metrics[part]) == {"mean", "std", "per_seed"} and len(metrics[part]["per_seed"]) == 1
    seed = run / "seed_0"
    for name in ("split.json", "model/model.safetensors", "model/model_config.json", "model/card.json",
                 "model/tokenizer/tokenizer.json", "predictions_test.csv", "predictions_val.csv", "curves.csv",
                 "curves.png", "roc_test.png", "metrics.json", "manifest.json"):
        assert (seed / name).is_file(), name
    assert not (seed / "training" / "checkpoints").exists()  # a finished seed keeps no optimiser state
    card = json.loads((seed / "model" / "card.json").read_text())
    assert card["featurizer"]["atom_featurizer"] == "attentivefp" and card["text"]["backend"] == "rdkit"
    split = json.loads((seed / "split.json").read_text())
    rows = sorted(split["train"] + split["val"] + split["test"])
    invalid = [59, 60]  # BBBP row 59 has a pentavalent nitrogen; row 60 is the broken SMILES added
    assert rows == [r for r in range(61) if r not in invalid]  # invalid rows are in no part ...
    assert pd.read_csv(run / "invalid.csv")["row"].tolist() == invalid  # ... but reported
    test = pd.read_csv(seed / "predictions_test.csv")
    assert test["row"].tolist() == split["test"] and test["p_np_pred"].between(0, 1).all()
    assert len(pd.read_csv(seed / "curves.csv")) == 2
    assert Manifest.read(run, kind="finetune").counts["n_invalid"] == 2


def test_resume_keeps_finished_seeds_and_refuses_other_settings(bbbp60, tmp_path):
    run = finetune(bbbp60, tmp_path / "run", tiny_config(target_columns=["p_np"], seeds=[0], epochs=1))
    weights = run / "seed_0" / "model" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    with pytest.raises(ArtifactError, match="pass --resume"):
        finetune(bbbp60, run, tiny_config(target_columns=["p_np"], seeds=[0], epochs=1))
    with pytest.raises(ArtifactError, match="changed: lr"):
        finetune(bbbp60, run, tiny_config(target_columns=["p_np"], seeds=[0], epochs=1, lr=0.1, resume=True))
    finetune(bbbp60, run, tiny_config(target_columns=["p_np"], seeds=[0, 1], epochs=1, resume=True))
    assert weights.stat().st_mtime_ns == before  # seed 0 was not trained again
    assert json.loads((run / "metrics.json").read_text())["seeds"] == [0, 1]


def test_a_second_job_on_a_run_in_progress_stops_and_overwrite_spares_the_lock(bbbp60, tmp_path):
    run = finetune(bbbp60, tmp_path / "run", tiny_config(target_columns=["p_np"], seeds=[0], epochs=1))
    weights = run / "seed_0" / "model" / "model.safetensors"
    with exclusive(run / LOCK):  # as if that run were still training
        with pytest.raises(ArtifactError, match="another process is writing here"):
            finetune(bbbp60, run, tiny_config(target_columns=["p_np"], seeds=[0], epochs=1, overwrite=True))
    assert weights.is_file() and Manifest.read(run, kind="finetune")  # untouched
    finetune(bbbp60, run, tiny_config(target_columns=["p_np"], seeds=[1], epochs=1, overwrite=True))
    assert not (run / "seed_0").exists() and json.loads((run / "metrics.json").read_text())["seeds"] == [1]


def test_killed_run_resumes_without_repeating_epochs(bbbp60, tmp_path):
    """SIGTERM during seed 0 leaves a checkpoint; --resume continues from it instead of starting over."""
    run = tmp_path / "run"
    script = ("from tiny_finetune import tiny_config; from lgmcl_dgl.finetune import finetune; "
              f"finetune({str(bbbp60)!r}, {str(run)!r}, tiny_config(target_columns=['p_np'], epochs=20, "
              "modalities=['local', 'fingerprints'], resume=RESUME))")
    env = child_env()
    child = subprocess.Popen([sys.executable, "-c", script.replace("RESUME", "False")], env=env, stderr=subprocess.PIPE, text=True)
    epoch_log = run / "seed_0" / "training" / "epoch_log.csv"
    stderr = sigterm_after_epochs(child, epoch_log, 2, wait=120)
    assert child.returncode != 0 and "continue with --resume" in stderr
    done = pd.read_csv(epoch_log)["epoch"].tolist()
    assert len(done) >= 2 and not (run / "seed_0" / "manifest.json").exists()
    resumed = subprocess.run([sys.executable, "-c", script.replace("RESUME", "True")],
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    curve = pd.read_csv(run / "seed_0" / "curves.csv")["epoch"].tolist()
    assert curve == list(range(1, len(curve) + 1)) and len(curve) == 20  # each epoch once, none repeated
    assert pd.read_csv(epoch_log)["epoch"].tolist()[:len(done)] == done


def test_a_truncated_last_checkpoint_falls_back_to_the_one_before(bbbp60, tmp_path):
    """The seed keeps two checkpoints: one damaged file costs an epoch, not the seed."""
    run = tmp_path / "run"
    script = ("from tiny_finetune import tiny_config; from lgmcl_dgl.finetune import finetune; "
              f"finetune({str(bbbp60)!r}, {str(run)!r}, tiny_config(target_columns=['p_np'], epochs=8, "
              "modalities=['local', 'fingerprints'], resume=RESUME))")
    env = child_env()
    child = subprocess.Popen([sys.executable, "-c", script.replace("RESUME", "False")], env=env, stderr=subprocess.PIPE, text=True)
    training = run / "seed_0" / "training"
    sigterm_after_epochs(child, training / "epoch_log.csv", 3, wait=120)
    saved = list_checkpoints(training / "checkpoints")
    assert len(saved) == 2
    weights = saved[-1] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    resumed = subprocess.run([sys.executable, "-c", script.replace("RESUME", "True")],
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"falling back to {saved[-2].name}" in resumed.stderr and "starts over" not in resumed.stderr
    assert pd.read_csv(training / "epoch_log.csv")["epoch"].tolist() == list(range(1, 9))  # each epoch once, numbered from 1


def test_a_command_refused_for_its_input_leaves_nothing_that_blocks_the_corrected_one(bbbp60, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(InputError, match="nope"):
        finetune(bbbp60, run, tiny_config(target_columns=["nope"], epochs=1))
    assert not (run / "finetune_config.json").exists()
    finetune(bbbp60, run, tiny_config(target_columns=["p_np"], epochs=1, modalities=["local", "fingerprints"]))
    assert Manifest.read(run, kind="finetune").config["target_columns"] == ["p_np"]


def test_regression_reports_original_units(moleculenet, tmp_path):
    source = slice_csv(moleculenet / "delaney-processed.csv", tmp_path / "esol.csv", 60)
    run = finetune(source, tmp_path / "run", tiny_config(target_columns=["measured log solubility in mols per litre"],
                                                         modalities=["local", "fingerprints"], epochs=1))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["metric"] == "rmse" and metrics["task_type"] == "regression"
    card = json.loads((run / "seed_0" / "model" / "card.json").read_text())
    labels = pd.read_csv(source)["measured log solubility in mols per litre"]
    assert card["label_stats"]["mean"][0] == pytest.approx(labels.mean(), abs=1.0)
    test = pd.read_csv(run / "seed_0" / "predictions_test.csv")
    name = "measured log solubility in mols per litre"
    rmse = float(np.sqrt(((test[name] - test[f"{name}_pred"]) ** 2).mean()))
    assert metrics["test"]["per_seed"][0] == pytest.approx(rmse, rel=1e-3)
    assert (run / "seed_0" / "parity_test.png").is_file()
    assert not (run / "seed_0" / "model" / "tokenizer").exists()  # no text branch, no tokenizer


def test_classification_labels_must_be_binary(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("smiles,y\nCCO,0\nCCN,1\nCCC,2\n")
    with pytest.raises(InputError, match="row 2, column 'y': label 2 is not 0 or 1"):
        finetune(source, tmp_path / "run", tiny_config(task_type="classification"))


def _tiny_pretrained(directory: Path):
    """A pretrain-format directory (weights + model_config.json + tokenizer/) of the tiny model; its tokenizer."""
    import torch

    from lgmcl_dgl.models.config import load_preset
    from lgmcl_dgl.models.io import save_model
    from lgmcl_dgl.models.lgmcl import LGMCL
    from lgmcl_dgl.text.tokenizer import train_tokenizer
    from tiny_finetune import TINY_MODEL

    tokenizer = train_tokenizer(["CCO c1ccccc1 CC(=O)O"] * 5, directory / "tokenizer", 300, 48)
    config = load_preset("small", {**TINY_MODEL, "fingerprint_dim": 167, "text.vocab_size": len(tokenizer)})
    torch.manual_seed(123)
    save_model(directory, LGMCL(config, 0))
    return tokenizer


def _changed_encoder_tensors(pretrained: Path, run: Path) -> tuple[list[str], list[str]]:
    """The pretrained encoder tensors, and those the run's seed 0 changed."""
    import torch
    from safetensors.torch import load_file

    before = load_file(str(pretrained / "model.safetensors"))
    after = load_file(str(run / "seed_0" / "model" / "model.safetensors"))
    encoders = [k for k in before if k.split(".")[0] in ("local", "global_", "text_encoder")]
    return encoders, [k for k in encoders if not torch.equal(before[k], after[k])]


def test_pretrained_encoders_are_loaded_and_frozen(bbbp60, tmp_path):
    """A pretrain-format directory (weights + model_config.json + tokenizer/) seeds the encoders."""
    pytest.importorskip("lgmcl_dgl.pretrained")  # resolve_pretrained arrives with the pretrain branch
    from safetensors.torch import load_file

    pretrained = tmp_path / "pretrained"
    tokenizer = _tiny_pretrained(pretrained)
    run = finetune(bbbp60, tmp_path / "run", tiny_config(target_columns=["p_np"], pretrained=str(pretrained),
                                                         freeze_encoders=True, epochs=1))
    encoders, changed = _changed_encoder_tensors(pretrained, run)
    assert encoders and changed == []
    assert any(k.startswith("head.") for k in load_file(str(run / "seed_0" / "model" / "model.safetensors")))
    card = json.loads((run / "seed_0" / "model" / "card.json").read_text())
    assert card["model_config"]["fingerprint_dim"] == 1489 and card["extra"]["pretrained"] == str(pretrained)
    tokens = json.loads((run / "seed_0" / "model" / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(tokens) == len(tokenizer)  # the pretrained tokenizer, not one trained on the input


def test_concurrent_runs_share_the_cache_without_corrupting_it(moleculenet, tmp_path):
    """Two jobs on one input at once (seeds in parallel, several terminals) build its cached features and
    descriptions once, in turn, instead of interleaving their records."""
    source = slice_csv(moleculenet / "BBBP.csv", tmp_path / "bbbp.csv", 1500)
    script = ("import sys; from tiny_finetune import tiny_config; from lgmcl_dgl.finetune import finetune; "
              f"finetune({str(source)!r}, sys.argv[1], tiny_config(target_columns=['p_np'], epochs=1, jobs=2))")
    env = child_env()
    children = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"run{i}")], env=env,
                                 stderr=subprocess.PIPE, text=True) for i in range(2)]
    errors = [child.communicate(timeout=600)[1] for child in children]
    for child, stderr in zip(children, errors):
        assert child.returncode == 0, stderr[-2000:]
    records = (Path(os.environ["LGMCL_CACHE"]) / "artifacts").glob("augment-*/descriptions.jsonl")
    rows = [json.loads(line)["row"] for line in next(records).read_text().splitlines()]
    n_invalid = len(pd.read_csv(tmp_path / "run0" / "invalid.csv"))
    assert len(rows) == len(set(rows)) == 1500 - n_invalid


@pytest.fixture
def bbbp_with_copies(moleculenet, tmp_path) -> Path:
    """BBBP's first 60 rows (columns num,name,p_np,smiles) and six of them again, numbered on, with the other label."""
    frame = pd.read_csv(moleculenet / "BBBP.csv", dtype=str, keep_default_na=False).head(60)
    again = frame.iloc[10:16].copy()
    again["num"] = [str(1000 + i) for i in range(len(again))]
    again["p_np"] = [str(1 - int(v)) for v in again["p_np"]]
    path = tmp_path / "bbbp_copies.csv"
    pd.concat([frame, again]).to_csv(path, index=False)
    return path


def test_without_target_columns_trains_on_the_label_only_and_reports_copies(bbbp_with_copies, tmp_path, caplog):
    with caplog.at_level("INFO"):
        run = finetune(bbbp_with_copies, tmp_path / "run", tiny_config(epochs=1))
    assert json.loads((run / "metrics.json").read_text())["task_names"] == ["p_np"]  # not the row number 'num'
    assert "label column(s) p_np" in caplog.text
    assert "appear more than once" in caplog.text and "--duplicates keep" in caplog.text
    reported = pd.read_csv(run / "duplicates.csv")
    assert {10 + i for i in range(6)} | {60 + i for i in range(6)} <= set(reported["row"])
    assert (reported[reported["row"] >= 60]["conflicting_tasks"] == "p_np").all()
    split = json.loads((run / "seed_0" / "split.json").read_text())
    part_of = {row: part for part, rows in split.items() for row in rows}
    for _, copies in reported.groupby("molecule"):
        assert len({part_of[row] for row in copies["row"]}) == 1
    assert json.loads((run / "finetune_config.json").read_text())["duplicates"] == "keep"


def test_merged_copies_are_trained_and_scored_once(bbbp_with_copies, tmp_path):
    run = finetune(bbbp_with_copies, tmp_path / "run", tiny_config(target_columns=["p_np"], epochs=1,
                                                                  duplicates="merge"))
    reported = pd.read_csv(run / "duplicates.csv")
    split = json.loads((run / "seed_0" / "split.json").read_text())
    used = [row for rows in split.values() for row in rows]
    first = reported.groupby("molecule")["row"].min()
    assert set(first) <= set(used) and not (set(reported["row"]) - set(first)) & set(used)
    predictions = pd.concat(pd.read_csv(run / "seed_0" / f"predictions_{part}.csv") for part in ("train", "val", "test"))
    merged = predictions.set_index("row").loc[[10 + i for i in range(6)], "p_np"]
    assert (merged == 1).all()  # one copy positive, one negative: a tie counts as positive
    assert json.loads((run / "finetune_config.json").read_text())["duplicates"] == "merge"


def test_cli_refuses_a_text_cell_in_the_guessed_label_column(moleculenet, tmp_path):
    from click.testing import CliRunner

    from lgmcl_dgl.cli.main import cli

    frame = pd.read_csv(moleculenet / "BBBP.csv", dtype=str, keep_default_na=False).head(80)
    frame.loc[30, "p_np"] = "active"
    frame.to_csv(tmp_path / "wrong.csv", index=False)
    result = CliRunner().invoke(cli, ["finetune", str(tmp_path / "wrong.csv"), "-o", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "wrong.csv: row 30 (line 32), column 'p_np': label 'active' is not a number" in result.output
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_frozen_text_encoders_run_once_per_molecule_not_per_step(bbbp60, tmp_path, monkeypatch):
    """With --freeze-encoders the text encoders' outputs are computed once per seed and reused by every
    training step, validation and test; the predictions equal what the saved model computes live."""
    import math

    from lgmcl_dgl.evaluate.predict import predict
    from lgmcl_dgl.models.text_encoder import TextEncoder

    calls = []
    live = TextEncoder.forward

    def counted(self, input_ids, attention_mask):  # the real forward, counted
        calls.append(input_ids.shape[0])
        return live(self, input_ids, attention_mask)

    monkeypatch.setattr(TextEncoder, "forward", counted)
    run = finetune(bbbp60, tmp_path / "frozen", tiny_config(target_columns=["p_np"], freeze_encoders=True, epochs=3,
                                                           batch_size=8))
    molecules = 59  # 60 rows, one broken
    assert len(calls) == 2 * math.ceil(molecules / 256) and sum(calls) == 2 * molecules  # SMILES + description, once
    calls.clear()
    finetune(bbbp60, tmp_path / "trained", tiny_config(target_columns=["p_np"], epochs=1, batch_size=8))
    assert len(calls) > 2 * math.ceil(molecules / 256)  # text encoders that train run at every step
    monkeypatch.setattr(TextEncoder, "forward", live)
    own = pd.concat([pd.read_csv(run / "seed_0" / f"predictions_{part}.csv") for part in ("train", "val", "test")])
    fresh = pd.read_csv(predict(run, bbbp60, tmp_path / "predictions.csv")).set_index("row")
    np.testing.assert_allclose(own["p_np_pred"], fresh.loc[own["row"], "p_np"], rtol=1e-4, atol=1e-5)


def test_the_recipe_freezes_the_encoders_for_its_first_epochs_then_trains_them(bbbp60, tmp_path):
    pretrained = tmp_path / "pretrained"
    _tiny_pretrained(pretrained)
    recipe = dict(target_columns=["p_np"], pretrained=str(pretrained), encoder_lr_factor=0.1, schedule="cosine",
                  warmup_epochs=0.5, split_sizes=(0.8, 0.0, 0.2))  # no validation part: the last weights are kept
    frozen = finetune(bbbp60, tmp_path / "frozen", tiny_config(**recipe, freeze_epochs=2, epochs=2))
    encoders, changed = _changed_encoder_tensors(pretrained, frozen)
    assert encoders and changed == []
    thawed = finetune(bbbp60, tmp_path / "thawed", tiny_config(**recipe, freeze_epochs=1, epochs=2))
    assert set(_changed_encoder_tensors(pretrained, thawed)[1]) == set(encoders)
    assert json.loads((thawed / "finetune_config.json").read_text())["encoder_lr_factor"] == 0.1


def test_the_seed_ensemble_scores_the_mean_prediction_where_the_seeds_share_their_parts(bbbp60, tmp_path):
    from sklearn.metrics import roc_auc_score

    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": list(range(0, 30)), "val": list(range(30, 40)), "test": list(range(40, 59))}))
    run = finetune(bbbp60, tmp_path / "run", tiny_config(target_columns=["p_np"], seeds=[0, 1], epochs=1,
                                                         modalities=["local", "fingerprints"], split_file=str(split)))
    metrics = json.loads((run / "metrics.json").read_text())
    frames = [pd.read_csv(run / f"seed_{s}" / "predictions_test.csv") for s in (0, 1)]
    mean = (frames[0]["p_np_pred"] + frames[1]["p_np_pred"]) / 2
    assert metrics["ensemble"]["test"]["roc_auc"] == pytest.approx(roc_auc_score(frames[0]["p_np"], mean))
    assert not np.allclose(frames[0]["p_np_pred"], frames[1]["p_np_pred"])  # two models, a mean of two
    assert set(metrics["ensemble"]) == {"test", "val", "train"} and metrics["test"]["per_seed"][1] is not None

    random = finetune(bbbp60, tmp_path / "random", tiny_config(target_columns=["p_np"], seeds=[0, 1], epochs=1,
                                                               modalities=["local", "fingerprints"]))
    assert json.loads((random / "metrics.json").read_text())["ensemble"]["test"] is None  # each seed its own test part
