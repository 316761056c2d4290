"""Training checkpoints that survive kills, full disks and bit rot, and load without unpickling.

A checkpoint is a directory ``<dir>/step-000000123/`` holding

- ``model.safetensors``: the model's state dict;
- ``optimizer.safetensors`` / ``extra.safetensors``: every tensor found in the optimiser state
  and in ``extra_state`` (flattened under dotted keys);
- ``state.json``: everything else (optimiser structure, scheduler, RNG states, data position,
  config), with ``{"__tensor__": key}`` where a tensor was taken out;
- ``checksums.json``: the sha256 of each file above, written last.

It is written into a hidden temporary directory and renamed into place, so a kill leaves either
a whole checkpoint or none; the checksums catch truncation and corruption after the fact, and
``load_latest`` then falls back to the previous checkpoint.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lgmcl_dgl.data.artifacts import reported_as, sha256_file, to_jsonable, write_synced

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
_STEP_DIR = re.compile(r"^step-(\d{9})$")
_TENSOR = "__tensor__"
_ITEMS = "__items__"  # a dict whose keys are not all strings (the optimiser's int parameter ids)
_TUPLE = "__tuple__"
_OS_ERROR = re.compile(r"os error (\d+)")  # how safetensors' Rust side reports an I/O failure


class CheckpointError(RuntimeError):
    """A checkpoint is incomplete, truncated or corrupted."""


@dataclass
class Checkpoint:
    """One loaded, verified checkpoint."""

    path: Path
    step: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None
    scheduler_state: dict[str, Any] | None
    extra_state: dict[str, Any] = field(default_factory=dict)

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                scheduler: Any | None = None) -> dict[str, Any]:
        """Load the saved states into live objects; returns ``extra_state``."""
        model.load_state_dict(self.model_state)
        if optimizer is not None and self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        if scheduler is not None and self.scheduler_state is not None:
            scheduler.load_state_dict(self.scheduler_state)
        return self.extra_state


def step_dir_name(step: int) -> str:
    return f"step-{step:09d}"


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Complete-looking checkpoint directories, oldest first (temporary directories are skipped)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and _STEP_DIR.match(p.name)]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def save_checkpoint(directory: str | os.PathLike, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None, scheduler: Any | None,
                    extra_state: dict[str, Any] | None = None, *, keep_last: int = 3) -> Path:
    """Write checkpoint ``step`` atomically, then delete all but the newest ``keep_last``.

    On failure (a full disk, say) the partial temporary directory is removed and the error is
    raised; the previous checkpoints are untouched.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / step_dir_name(step)
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        optimizer_json, optimizer_tensors = split_tensors(optimizer.state_dict() if optimizer else None, "")
        extra_json, extra_tensors = split_tensors(extra_state or {}, "")
        files = {"model.safetensors": _unshared(model.state_dict())}
        if optimizer_tensors:
            files["optimizer.safetensors"] = optimizer_tensors
        if extra_tensors:
            files["extra.safetensors"] = extra_tensors
        for name, tensors in files.items():
            save_tensors(tensors, tmp / name)
        state = {"step": step, "optimizer": optimizer_json,
                 "scheduler": to_jsonable(scheduler.state_dict()) if scheduler is not None else None,
                 "extra": extra_json}
        write_synced(tmp / "state.json", json.dumps(state).encode())
        checksums = {name: sha256_file(tmp / name) for name in [*files, "state.json"]}
        write_synced(tmp / CHECKSUMS, json.dumps(checksums, indent=1).encode())
        if final.exists():  # re-saving the same step (e.g. the final save right after a periodic one)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(directory, keep_last)
    return final


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load one checkpoint directory after verifying every file against its recorded sha256."""
    path = Path(path)
    sums_path = path / CHECKSUMS
    if not sums_path.is_file():
        raise CheckpointError(f"{path}: no {CHECKSUMS} (incomplete checkpoint)")
    try:
        checksums = json.loads(sums_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{sums_path}: unreadable ({exc})") from exc
    for name, digest in checksums.items():
        if not (path / name).is_file():
            raise CheckpointError(f"{path / name}: missing")
        if sha256_file(path / name) != digest:
            raise CheckpointError(f"{path / name}: sha256 mismatch (truncated or corrupted)")
    state = json.loads((path / "state.json").read_text())
    optimizer_tensors = load_file(str(path / "optimizer.safetensors")) if "optimizer.safetensors" in checksums else {}
    extra_tensors = load_file(str(path / "extra.safetensors")) if "extra.safetensors" in checksums else {}
    return Checkpoint(path=path, step=int(state["step"]),
                      model_state=load_file(str(path / "model.safetensors")),
                      optimizer_state=join_tensors(state["optimizer"], optimizer_tensors),
                      scheduler_state=state["scheduler"],
                      extra_state=join_tensors(state["extra"], extra_tensors))


def load_latest(directory: str | os.PathLike) -> Checkpoint | None:
    """The newest checkpoint that verifies; a bad one is reported and the one before it tried. None when
    none is usable (none written yet, or every one damaged)."""
    candidates = list_checkpoints(directory)
    for index in range(len(candidates) - 1, -1, -1):
        try:
            return load_checkpoint(candidates[index])
        except (CheckpointError, OSError, ValueError, KeyError, SafetensorError) as exc:
            then = f"falling back to {candidates[index - 1].name}" if index else "no older checkpoint is left"
            log.warning("checkpoint %s is unusable (%s); %s", candidates[index], exc, then)
    return None


def discard_after(directory: str | os.PathLike, step: int) -> None:
    """Remove the checkpoints past ``step``, the one a run resumes from (-1: none): they failed to load, and
    left in place they would outrank the checkpoints the run writes next and get those pruned instead."""
    for path in list_checkpoints(directory):
        if int(_STEP_DIR.match(path.name).group(1)) > step:
            shutil.rmtree(path)


def save_model_weights(path: str | os.PathLike, model: torch.nn.Module | dict[str, torch.Tensor],
                       dtype: torch.dtype | None = None, metadata: dict[str, str] | None = None) -> Path:
    """Model weights alone, as one safetensors file (optionally cast, e.g. to float16 for shipping)."""
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_tensors(_unshared(state), tmp, metadata=metadata)
        with reported_as(path, tmp):
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """``safetensors.torch.save_file``, but a failed write (a full disk) raises the ``OSError`` it is, naming
    ``path``: safetensors raises its own error type, which callers that handle ``OSError`` would miss."""
    try:
        save_file(tensors, str(path), metadata=metadata)
    except SafetensorError as exc:
        found = _OS_ERROR.search(str(exc))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(path)) from exc


def load_model_weights(path: str | os.PathLike, model: torch.nn.Module, strict: bool = True) -> torch.nn.Module:
    """Load weights from a safetensors file or a checkpoint directory; dtypes follow the model."""
    path = Path(path)
    if path.is_dir():
        state = (load_checkpoint(path) if (path / CHECKSUMS).is_file() else _require_latest(path)).model_state
    else:
        state = load_file(str(path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if strict and (missing or unexpected):
        raise CheckpointError(f"{path}: weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) generator states as JSON-able values."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state = {"python": [version, list(internal), gauss],
             "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
             "torch": _b64(torch.get_rng_state())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_unb64(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])


def split_tensors(obj: Any, prefix: str) -> tuple[Any, dict[str, torch.Tensor]]:
    """Take every tensor out of a nested structure: (JSON-able skeleton, {dotted key: tensor})."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, key: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[key] = value.detach().cpu().contiguous()
            return {_TENSOR: key}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {k: walk(v, f"{key}.{k}" if key else k) for k, v in value.items()}
            return {_ITEMS: [[k, walk(v, f"{key}.{k}" if key else str(k))] for k, v in value.items()]}
        if isinstance(value, tuple):
            return {_TUPLE: [walk(v, f"{key}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{key}.{i}") for i, v in enumerate(value)]
        return to_jsonable(value)

    return walk(obj, prefix), _unshared(tensors)


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of ``split_tensors``."""
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        if set(obj) == {_ITEMS}:
            return {k: join_tensors(v, tensors) for k, v in obj[_ITEMS]}
        if set(obj) == {_TUPLE}:
            return tuple(join_tensors(v, tensors) for v in obj[_TUPLE])
        return {k: join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def _unshared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing storage (tied weights): give each its own copy."""
    seen: set[int] = set()
    out = {}
    for key, value in state.items():
        value = value.detach().cpu().contiguous()
        storage = value.untyped_storage()
        shared = storage.data_ptr() in seen or storage.nbytes() != value.numel() * value.element_size()
        out[key] = value.clone() if shared and value.numel() else value
        seen.add(storage.data_ptr())
    return out


def _prune(directory: Path, keep_last: int) -> None:
    for stale in directory.glob(".step-*.tmp"):  # left by a kill during an earlier save
        shutil.rmtree(stale, ignore_errors=True)
    for old in list_checkpoints(directory)[:-max(keep_last, 1)]:
        shutil.rmtree(old, ignore_errors=True)


def _require_latest(directory: Path) -> Checkpoint:
    checkpoint = load_latest(directory)
    if checkpoint is None:
        raise CheckpointError(f"{directory}: no usable checkpoint")
    return checkpoint


def _b64(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def _unb64(text: str) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.uint8).copy())
