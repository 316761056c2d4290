"""Checkpoints: exact round trip without pickles, atomic writes, pruning, corruption fallback."""

from __future__ import annotations

import errno
import json
import logging
import random
import resource
import signal
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from fs_faults import tmpfs

from lgmcl_dgl.train.checkpoint import (
    CheckpointError, capture_rng_state, list_checkpoints, load_checkpoint, load_latest, load_model_weights,
    restore_rng_state, save_checkpoint, save_model_weights,
)


def _trained(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (s + 1))
    for _ in range(3):
        model(torch.randn(5, 4)).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return model, optimizer, scheduler


def test_round_trip_restores_model_optimizer_scheduler_and_extra(tmp_path):
    model, optimizer, scheduler = _trained()
    extra = {"position": {"epoch": 2, "batch": 7}, "best": {"w": torch.arange(3.0)}, "pair": (1, "a")}
    path = save_checkpoint(tmp_path, 3, model, optimizer, scheduler, extra)
    assert path.name == "step-000000003"
    assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl"))

    fresh, fresh_opt, fresh_sched = _trained(seed=1)
    checkpoint = load_latest(tmp_path)
    assert checkpoint.step == 3
    got = checkpoint.restore(fresh, fresh_opt, fresh_sched)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert fresh_sched.state_dict()["last_epoch"] == scheduler.state_dict()["last_epoch"]
    assert fresh_sched.get_last_lr() == scheduler.get_last_lr()
    original, restored = optimizer.state_dict(), fresh_opt.state_dict()
    assert restored["state"].keys() == original["state"].keys()
    for key in original["state"]:
        for name, value in original["state"][key].items():
            assert torch.equal(restored["state"][key][name], value)
    assert got["position"] == {"epoch": 2, "batch": 7}
    assert torch.equal(got["best"]["w"], torch.arange(3.0))
    assert got["pair"] == (1, "a")

    # the next optimiser step is identical from the restored state
    batch = torch.randn(5, 4)
    for m, o in ((model, optimizer), (fresh, fresh_opt)):
        m(batch).pow(2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_keeps_only_the_last_k(tmp_path):
    model, optimizer, scheduler = _trained()
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, model, optimizer, scheduler, {}, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000000003", "step-000000004"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_checksums"])
def test_corrupted_latest_falls_back_to_previous_with_a_message(tmp_path, caplog, damage):
    model, optimizer, scheduler = _trained()
    save_checkpoint(tmp_path, 10, model, optimizer, scheduler, {"tag": "old"})
    latest = save_checkpoint(tmp_path, 20, model, optimizer, scheduler, {"tag": "new"})
    weights = latest / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif damage == "flip":
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
    else:
        (latest / "checksums.json").unlink()
    with pytest.raises(CheckpointError):
        load_checkpoint(latest)
    with caplog.at_level(logging.WARNING):
        checkpoint = load_latest(tmp_path)
    assert checkpoint.step == 10 and checkpoint.extra_state["tag"] == "old"
    assert "step-000000020" in caplog.text and "falling back" in caplog.text


def test_no_checkpoint_and_leftover_temporary_dirs_are_ignored(tmp_path):
    assert load_latest(tmp_path / "missing") is None
    (tmp_path / ".step-000000005.x.tmp").mkdir()  # a kill during a save leaves this behind
    assert load_latest(tmp_path) is None
    model, optimizer, scheduler = _trained()
    save_checkpoint(tmp_path, 6, model, optimizer, scheduler, {})
    assert not list(tmp_path.glob(".step-*"))


def test_failed_save_leaves_previous_checkpoints_intact(tmp_path):
    model, optimizer, scheduler = _trained()
    save_checkpoint(tmp_path, 1, model, optimizer, scheduler, {})
    with pytest.raises(TypeError):  # an unserialisable extra state fails mid-save
        save_checkpoint(tmp_path, 2, model, optimizer, scheduler, {"bad": object()})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000000001"]
    assert not list(tmp_path.glob(".step-*"))
    assert load_latest(tmp_path).step == 1


@contextmanager
def file_size_limit(limit: int):
    """RLIMIT_FSIZE: a write past ``limit`` bytes fails with EFBIG (SIGXFSZ ignored), on any Linux, as any user."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def _wide(width: int) -> torch.nn.Module:
    return torch.nn.Linear(width, width)


def test_a_write_the_serializer_cannot_finish_is_an_oserror_naming_the_file(tmp_path):
    """safetensors raises its own error type for a failed write; callers that keep training on an OSError
    (a full disk) must get one, naming the file."""
    model = _wide(256)  # 256 KiB of weights
    save_checkpoint(tmp_path, 1, _wide(4), None, None, {})
    with file_size_limit(64 * 1024), pytest.raises(OSError) as caught:
        save_checkpoint(tmp_path, 2, model, None, None, {})
    assert caught.value.errno == errno.EFBIG
    assert caught.value.filename.endswith("model.safetensors") and str(tmp_path) in caught.value.filename
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000000001"] and not list(tmp_path.glob(".step-*"))
    with file_size_limit(64 * 1024), pytest.raises(OSError, match="File too large"):
        save_model_weights(tmp_path / "weights.safetensors", model)
    assert not list(tmp_path.glob("*weights*"))


def test_a_full_disk_at_save_is_an_oserror_and_keeps_the_older_checkpoints(tmp_path):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        save_checkpoint(disk, 1, _wide(4), None, None, {})
        with pytest.raises(OSError) as caught:
            save_checkpoint(disk, 2, _wide(256), None, None, {})
        assert caught.value.errno == errno.ENOSPC and caught.value.filename.startswith(str(disk))
        assert [p.name for p in list_checkpoints(disk)] == ["step-000000001"] and not list(disk.glob(".step-*"))
        assert load_latest(disk).step == 1


def test_no_usable_checkpoint_says_so_without_promising_a_fallback(tmp_path, caplog):
    model, optimizer, scheduler = _trained()
    for step in (1, 2):
        weights = save_checkpoint(tmp_path, step, model, optimizer, scheduler, {}) / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING):
        assert load_latest(tmp_path) is None
    assert "step-000000002 is unusable" in caplog.text and "falling back to step-000000001" in caplog.text
    assert caplog.text.count("falling back") == 1 and "no older checkpoint is left" in caplog.text


def test_model_weights_fp16_export_and_tied_weights(tmp_path):
    model, _, _ = _trained()
    tied = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 3), "b": torch.nn.Linear(3, 3)})
    tied["b"].weight = tied["a"].weight
    save_model_weights(tmp_path / "tied.safetensors", tied)
    save_model_weights(tmp_path / "half.safetensors", model, dtype=torch.float16)
    fresh, _, _ = _trained(seed=2)
    load_model_weights(tmp_path / "half.safetensors", fresh)
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, atol=1e-2)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model_weights(tmp_path / "tied.safetensors", fresh)


def test_rng_states_are_json_and_restore_all_generators():
    state = json.loads(json.dumps(capture_rng_state()))
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
