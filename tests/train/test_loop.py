"""The shared loop: kill -9 and resume reproduces a straight run; accumulation; early stopping; logs."""

from __future__ import annotations

import csv
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lgmcl_dgl.train.checkpoint import list_checkpoints
from lgmcl_dgl.train.loop import EpochBatches, ParamGroup, TrainConfig, lr_lambda, train

REPO = Path(__file__).resolve().parents[2]


def make_data(n: int = 48, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.1 * torch.randn(n, 1, generator=g)
    return list(zip(x, y))


def collate(items):
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def make_model(dropout: float = 0.2) -> torch.nn.Module:
    torch.manual_seed(123)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(16, 1))


def mse_step(model, batch):
    x, y = batch
    loss = torch.nn.functional.mse_loss(model(x), y)
    return {"loss": loss, "loss_l1": (model(x) - y).abs().mean()}


def read_log(out: Path) -> list[dict[str, str]]:
    with open(out / "train_log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def curve(out: Path) -> list[tuple[int, str, str]]:
    return [(int(r["step"]), r["loss"], r["lr"]) for r in read_log(out)]


def run_tiny(out: Path, slow: float = 0.0, **overrides) -> None:
    """The run the kill test drives (also its subprocess entry point)."""
    def step(model, batch):
        time.sleep(slow)
        return mse_step(model, batch)

    config = TrainConfig(**{"epochs": 4, "batch_size": 8, "lr": 1e-2, "warmup_steps": 3, "checkpoint_every": 2,
                            "log_every": 1, "seed": 7, "progress": False, **overrides})
    train(make_model(), make_data(), collate, step, out, config)


#: A fine-tuning recipe on the tiny model: its first layer trained at a tenth of the rate, frozen for 2 of 4 epochs.
RECIPE = {"param_groups": [ParamGroup(["0"], lr_factor=0.1, frozen_epochs=2)], "warmup_steps": 0, "warmup_epochs": 1.0}


@pytest.mark.parametrize("recipe", [False, True], ids=["plain", "recipe"])
def test_kill_9_then_resume_matches_a_straight_run(tmp_path, recipe):
    """With the recipe the kill lands in the frozen epochs (step 9 of 6-step epochs): the resumed run must
    freeze, warm up and decay exactly as the straight one."""
    straight = tmp_path / "straight"
    run_tiny(straight, **(RECIPE if recipe else {}))
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, str(killed), "0.05", "recipe" if recipe else "plain"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name >= "step-000000009" for p in list_checkpoints(killed / "checkpoints")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps_before = len(read_log(killed))
    assert 0 < steps_before < 24, "the kill must land mid-run"
    subprocess.run(cmd[:-2] + ["0", cmd[-1]], env=env, cwd=REPO, check=True)
    assert curve(killed) == curve(straight)
    assert len(curve(straight)) == 24  # 4 epochs x 6 steps, each logged once
    for a, b in zip(make_model().state_dict().values(), make_model().state_dict().values()):
        assert torch.equal(a, b)


def test_stopping_on_an_epoch_boundary_closes_the_epoch_and_resume_keeps_epoch_rows(tmp_path):
    def epochs(out):
        with open(out / "epoch_log.csv", newline="") as handle:
            return [(r["epoch"], r["step"], r["loss"], r["loss_l1"]) for r in csv.DictReader(handle)]

    same = {"epochs": 3, "schedule": "constant"}  # max_steps then leaves the learning rates alone
    run_tiny(tmp_path / "straight", **same)
    run_tiny(tmp_path / "split", max_steps=6, **same)  # 6 steps per epoch: stops exactly at an epoch end
    assert len(epochs(tmp_path / "split")) == 1
    run_tiny(tmp_path / "split", max_steps=9, **same)  # stops mid-epoch: the partial epoch's sums are saved
    run_tiny(tmp_path / "split", **same)
    assert epochs(tmp_path / "split") == epochs(tmp_path / "straight")
    assert curve(tmp_path / "split") == curve(tmp_path / "straight")


def epoch_rows(out: Path) -> list[tuple[str, str, str]]:
    with open(out / "epoch_log.csv", newline="") as handle:
        return [(r["epoch"], r["step"], r["loss"]) for r in csv.DictReader(handle)]


@pytest.mark.parametrize("loss", ["killed before the first checkpoint", "every checkpoint damaged"])
def test_resume_without_a_usable_checkpoint_starts_over_and_cuts_the_logs(tmp_path, caplog, loss):
    run_tiny(tmp_path / "straight", epochs=2)
    out = tmp_path / "out"
    run_tiny(out, epochs=2)
    if loss == "killed before the first checkpoint":
        shutil.rmtree(out / "checkpoints")
    else:
        for checkpoint in list_checkpoints(out / "checkpoints"):
            weights = checkpoint / "model.safetensors"
            weights.write_bytes(weights.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING):
        run_tiny(out, epochs=2)
    assert "training starts over from step 0" in caplog.text
    assert curve(out) == curve(tmp_path / "straight")  # no row twice
    assert epoch_rows(out) == epoch_rows(tmp_path / "straight")
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == \
        [p.name for p in list_checkpoints(tmp_path / "straight" / "checkpoints")]  # the damaged ones are gone


def test_a_full_disk_at_checkpoint_time_keeps_training(tmp_path, caplog):
    from fs_faults import tmpfs  # here: this file is also the kill test's child script, run without tests/ on its path

    run_tiny(tmp_path / "straight")
    out = tmp_path / "out"
    with tmpfs(out / "checkpoints", "4k"), caplog.at_level(logging.WARNING):  # no checkpoint fits
        run_tiny(out)
        assert not list_checkpoints(out / "checkpoints")
    assert "could not write checkpoint at step 2" in caplog.text and "training goes on" in caplog.text
    assert curve(out) == curve(tmp_path / "straight")


def test_an_epoch_row_logged_after_the_last_checkpoint_is_not_logged_twice(tmp_path, monkeypatch):
    """A checkpoint taken at an epoch's last step, then the epoch's row, then no checkpoint (a kill, a full
    disk): the resumed run logs that row again, so the old one must go."""
    same = {"schedule": "constant", "checkpoint_every": 6}  # 6 steps per epoch: a checkpoint at its last step
    run_tiny(tmp_path / "straight", epochs=2, **same)
    out = tmp_path / "out"
    real_replace, renames = os.replace, []

    def replace(src, dst):
        renames.append(Path(dst).name)
        if Path(dst).name == "step-000000006" and renames.count(Path(dst).name) == 2:  # the epoch-end save
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        run_tiny(out, epochs=1, **same)
    run_tiny(out, epochs=2, **same)
    assert epoch_rows(out) == epoch_rows(tmp_path / "straight")
    assert curve(out) == curve(tmp_path / "straight")


class SizedItems(list):
    """make_data's items with an atom count each, as size-aware batches need."""

    def atom_counts(self):
        return [5 + (7 * i) % 40 for i in range(len(self))]


def test_size_aware_batches_resume_exactly_mid_epoch(tmp_path):
    def run(out, **changes):
        config = TrainConfig(**{"epochs": 3, "batch_size": 8, "atom_budget": 200, "lr": 1e-2, "schedule": "constant",
                                "log_every": 1, "seed": 7, "progress": False, **changes})
        return train(make_model(), SizedItems(make_data()), collate, mse_step, out, config)

    straight = run(tmp_path / "straight")
    assert straight.molecules_seen == 3 * 48
    run(tmp_path / "split", max_steps=straight.step // 2 + 1)  # stops mid-epoch
    run(tmp_path / "split")
    assert curve(tmp_path / "split") == curve(tmp_path / "straight")
    plain = run(tmp_path / "plain", atom_budget=0)
    assert plain.step < straight.step  # the budget (200 padded atoms) makes more, smaller batches


def test_gradient_accumulation_equals_the_bigger_batch(tmp_path):
    common = {"epochs": 2, "lr": 1e-2, "log_every": 1, "progress": False, "seed": 1, "clip_norm": None}
    big, small = make_model(0.0), make_model(0.0)
    train(big, make_data(), collate, mse_step, tmp_path / "big", TrainConfig(batch_size=8, **common))
    train(small, make_data(), collate, mse_step, tmp_path / "acc", TrainConfig(batch_size=4, grad_accum=2, **common))
    for a, b in zip(big.parameters(), small.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    big_loss = [float(r) for _, r, _ in curve(tmp_path / "big")]
    acc_loss = [float(r) for _, r, _ in curve(tmp_path / "acc")]
    assert big_loss == pytest.approx(acc_loss, abs=1e-6)


def test_early_stopping_keeps_the_best_weights(tmp_path):
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.95])
    snapshots = []

    def evaluate(model):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"auc": next(scores)}

    model = make_model()
    result = train(model, make_data(), collate, mse_step, tmp_path,
                   TrainConfig(epochs=5, batch_size=16, monitor="auc", mode="max", patience=2, progress=False),
                   evaluate=evaluate)
    assert result.stopped_because == "early_stopping" and result.epoch == 4
    assert result.best_metrics["auc"] == 0.9
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][key])
    # a resumed run that already stopped early does not train on
    again = train(make_model(), make_data(), collate, mse_step, tmp_path,
                  TrainConfig(epochs=5, batch_size=16, monitor="auc", mode="max", patience=2, progress=False),
                  evaluate=evaluate)
    assert again.step == result.step and again.stopped_because == "early_stopping"


def test_max_steps_time_limit_and_outputs(tmp_path):
    result = train(make_model(), make_data(), collate, mse_step, tmp_path / "steps",
                   TrainConfig(epochs=10, batch_size=8, max_steps=5, log_every=2, progress=False))
    assert result.stopped_because == "max_steps" and result.step == 5 and result.molecules_seen == 40
    assert [p.name for p in list_checkpoints(tmp_path / "steps" / "checkpoints")][-1] == "step-000000005"
    assert (tmp_path / "steps" / "loss_curve.png").stat().st_size > 1000
    rows = read_log(tmp_path / "steps")
    assert [r["step"] for r in rows] == ["2", "4", "5"] and {"loss", "loss_l1", "lr", "mol_per_s"} <= set(rows[0])
    # raising max_steps continues the same run
    more = train(make_model(), make_data(), collate, mse_step, tmp_path / "steps",
                 TrainConfig(epochs=10, batch_size=8, max_steps=8, log_every=2, progress=False))
    assert more.step == 8 and more.molecules_seen == 64

    def slow_step(model, batch):
        time.sleep(0.05)
        return mse_step(model, batch)

    timed = train(make_model(), make_data(), collate, slow_step, tmp_path / "timed",
                  TrainConfig(epochs=100, batch_size=8, time_limit=0.3, progress=False))
    assert timed.stopped_because == "time_limit" and 1 <= timed.step < 100
    assert list_checkpoints(tmp_path / "timed" / "checkpoints")[-1].name == f"step-{timed.step:09d}"


def test_epoch_batches_shard_a_seeded_permutation():
    one = EpochBatches(10, 4, seed=3)
    assert one.count(0) == 3 and sorted(sum(one.local_batches(0), [])) == list(range(10))
    assert one.local_batches(0) == EpochBatches(10, 4, seed=3).local_batches(0)
    assert one.local_batches(0) != one.local_batches(1)
    shards = [EpochBatches(10, 4, seed=3, rank=r, world_size=2).local_batches(0) for r in (0, 1)]
    assert [a + b for a, b in zip(*shards)] == one.local_batches(0)
    assert EpochBatches(10, 4, seed=3, drop_last=True).count(0) == 2


def test_warmup_then_cosine_schedule():
    f = lr_lambda("cosine", warmup_steps=4, total_steps=14)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(9) == pytest.approx(0.5) and f(14) == pytest.approx(0.0)
    assert lr_lambda("constant", 0, 10)(7) == 1.0


def test_param_groups_train_at_their_factor_through_warm_up_and_decay(tmp_path):
    """Each optimiser step's rates, read from the checkpoint written after it: the group at 0.1 x the rest."""
    import json

    run_tiny(tmp_path / "run", epochs=2, schedule="cosine", warmup_steps=0, warmup_epochs=0.5, checkpoint_every=1,
             keep_last=100, param_groups=[ParamGroup(["0"], lr_factor=0.1)])
    factor = lr_lambda("cosine", warmup_steps=3, total_steps=12)  # 0.5 of 6 steps per epoch, 2 epochs
    for path in list_checkpoints(tmp_path / "run" / "checkpoints"):
        state = json.loads((path / "state.json").read_text())
        rest, first_layer = (group["lr"] for group in state["optimizer"]["param_groups"])
        assert rest == pytest.approx(1e-2 * factor(state["step"]))
        assert first_layer == pytest.approx(1e-3 * factor(state["step"]))
    logged = read_log(tmp_path / "run")
    assert len(logged) == 12  # the logged lr stays the run's rate, not a group's
    assert all(float(r["lr"]) == pytest.approx(1e-2 * factor(int(r["step"]))) for r in logged)


def test_a_group_is_frozen_for_its_first_epochs_then_trained(tmp_path):
    seen = []

    def step(model, batch):
        seen.append((model[0].weight.detach().clone(), model[3].weight.detach().clone(), model[0].weight.requires_grad))
        return mse_step(model, batch)

    model = make_model()
    train(model, make_data(), collate, step, tmp_path / "run",
          TrainConfig(epochs=3, batch_size=8, lr=1e-2, progress=False, seed=7,
                      param_groups=[ParamGroup(["0"], lr_factor=0.5, frozen_epochs=2)]))
    first, last = [s[0] for s in seen], [s[1] for s in seen]
    assert [s[2] for s in seen] == [False] * 12 + [True] * 6  # 6 steps per epoch
    assert all(torch.equal(w, first[0]) for w in first[:13])  # unchanged through the frozen epochs
    assert not torch.equal(first[13], first[12]) and not torch.equal(model[0].weight, first[12])  # then trained
    assert not torch.equal(last[1], last[0])  # the other layers trained from the start
    assert all(p.requires_grad for p in model.parameters())  # and the model comes back trainable


def test_an_unknown_param_group_module_is_named(tmp_path):
    with pytest.raises(ValueError, match="no module 'encoder'"):
        train(make_model(), make_data(), collate, mse_step, tmp_path,
              TrainConfig(progress=False, param_groups=[ParamGroup(["encoder"])]))


def test_without_a_progress_bar_epoch_lines_go_to_logging_not_stdout(tmp_path, capsys, caplog):
    with caplog.at_level("INFO", logger="lgmcl_dgl.train"):
        train(make_model(), make_data(), collate, mse_step, tmp_path / "quiet",
              TrainConfig(epochs=2, batch_size=8, progress=False))
    assert "epoch" not in capsys.readouterr().out
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"] and "loss" in lines[0]


def test_epochs_count_from_1_in_lines_logs_and_history_and_a_label_names_bar_and_lines(tmp_path, capsys):
    """Numbers the console shows are the ones the logs, the curves and best_epoch hold; with several models
    trained one after another (finetune's seeds) the label tells their lines apart."""
    out = tmp_path / "labelled"
    result = train(make_model(), make_data(), collate, mse_step, out,
                   TrainConfig(epochs=2, batch_size=8, progress=True, label="seed 3", monitor="val_score", mode="min"),
                   evaluate=lambda model: {"val_score": 1.0})
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if "epoch" in line]
    assert [line.split(":")[0] for line in lines] == ["seed 3, epoch 1/2", "seed 3, epoch 2/2"]
    assert "seed 3: 100%" in captured.err.replace("\r", "\n")
    with open(out / "epoch_log.csv", newline="") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2"]
    with open(out / "train_log.csv", newline="") as handle:
        assert {row["epoch"] for row in csv.DictReader(handle)} == {"1", "2"}
    assert [row["epoch"] for row in result.history] == [1, 2] and result.best_metrics["epoch"] == 1


if __name__ == "__main__":  # subprocess entry of the kill test: OUT SECONDS_PER_STEP plain|recipe
    run_tiny(Path(sys.argv[1]), slow=float(sys.argv[2]), **(RECIPE if sys.argv[3] == "recipe" else {}))
