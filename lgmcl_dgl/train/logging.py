"""Where a run's numbers go: a CSV (always), TensorBoard (when installed) and a PNG curve at the end.

The CSV is appended to and flushed row by row, so it survives a kill; on resume, rows past the
checkpoint are dropped first (all of them when the run starts over) so the file holds one continuous curve.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import resource
from pathlib import Path
from typing import Any

import torch

from lgmcl_dgl.data.artifacts import atomic_write_text, reported_as

log = logging.getLogger("lgmcl_dgl.train")

STEP_LOG = "train_log.csv"
EPOCH_LOG = "epoch_log.csv"
CURVE = "loss_curve.png"


class CsvLog:
    """One CSV file with a header fixed by its first row; later unseen keys are ignored with a warning."""

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] | None = None
        if path.is_file() and path.stat().st_size:
            with open(path, newline="") as handle:
                self.fields = next(csv.reader(handle), None)

    def truncate_after(self, key: str, value: float) -> None:
        """Drop rows whose ``key`` exceeds ``value`` (written after the checkpoint we resume from)."""
        if self.fields is None:
            return
        with open(self.path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get(key) and float(r[key]) <= value]
        text = io.StringIO()
        writer = csv.DictWriter(text, self.fields)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, text.getvalue())

    def write(self, row: dict[str, Any]) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row)
        unknown = set(row) - set(self.fields)
        if unknown:
            log.warning("%s: columns %s not in the header; not logged", self.path.name, sorted(unknown))
        with reported_as(self.path), open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(v) for k, v in row.items()})


class RunLogger:
    """Step and epoch logs of one run (rank 0 only; other processes get ``enabled=False``)."""

    def __init__(self, out_dir: str | os.PathLike, enabled: bool = True, tensorboard: bool = True):
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        if enabled:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.steps = CsvLog(self.out_dir / STEP_LOG)
        self.epochs = CsvLog(self.out_dir / EPOCH_LOG)
        self._tb = _tensorboard_writer(self.out_dir / "tensorboard") if enabled and tensorboard else None

    def resume_at(self, step: int, epoch: int) -> None:
        """Keep the rows of the ``step`` optimiser steps and ``epoch`` epochs the resumed checkpoint holds. Epoch
        rows go by epoch: a checkpoint taken after an epoch's last step but before its row was logged has that
        row's step, and the resumed run logs the row again."""
        if self.enabled:
            self.steps.truncate_after("step", step)
            self.epochs.truncate_after("epoch", epoch)  # rows are numbered from 1: epoch k's row says k

    def log_step(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.steps.write(row)
        if self._tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"train/{key}", value, row["step"])

    def log_epoch(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.epochs.write(row)
        if self._tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"epoch/{key}", value, row["step"])

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self.enabled and self.steps.path.is_file():
            plot_curves(self.steps.path, self.out_dir / CURVE)


def epoch_line(row: dict[str, Any], epochs: int, label: str = "") -> str:
    """``seed 1, epoch 3/30: loss 0.41, ...``: one finished epoch (numbered from 1, as in every log and plot)."""
    prefix = f"{label}, " if label else ""
    values = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "step") and isinstance(v, float))
    return f"{prefix}epoch {row['epoch']}/{epochs}: {values}"


def plot_curves(csv_path: Path, png_path: Path) -> Path | None:
    """Every ``loss*`` column against ``step`` in one PNG (log-scale y when all values are positive)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_csv(csv_path)
    columns = [c for c in frame.columns if c.startswith("loss")]
    if frame.empty or not columns:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for column in columns:
        ax.plot(frame["step"], frame[column], label=column, linewidth=1.2)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss")
    if (frame[columns] > 0).all().all():
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = png_path.with_name(f".{png_path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, png_path)
    return png_path


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process so far: CUDA allocator peak on a GPU, resident set size on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.9g}"
    return value


def _tensorboard_writer(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(path))
