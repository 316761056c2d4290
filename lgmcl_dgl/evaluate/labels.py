"""Task types and label statistics: what the labels are, checked before any training starts.

Classification labels must be 0/1 (NaN = missing); regression targets are trained z-scored and
reported back in original units, so the statistics travel with every saved model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lgmcl_dgl.data.load import InputError

TASK_TYPES = ("classification", "regression")


def infer_task_type(labels: np.ndarray) -> str:
    """Classification when every present label is 0 or 1, regression otherwise."""
    present = labels[~np.isnan(labels)]
    return "classification" if present.size and np.isin(present, (0.0, 1.0)).all() else "regression"


def check_labels(labels: np.ndarray, task_names: list[str], task_type: str, source: object,
                 rows: np.ndarray | None = None) -> None:
    """Refuse labels no model can learn from, naming the file, task and first offending row."""
    if task_type not in TASK_TYPES:
        raise InputError(f"unknown task type {task_type!r}; choose from {', '.join(TASK_TYPES)}")
    if not task_names:
        raise InputError(f"{source}: no target columns; name them with --target-columns")
    rows = np.arange(len(labels)) if rows is None else rows
    for j, name in enumerate(task_names):
        column = labels[:, j]
        present = ~np.isnan(column)
        if not present.any():
            raise InputError(f"{source}: column {name!r} has no labels at all (every value is missing)")
        if task_type == "classification":
            bad = present & ~np.isin(column, (0.0, 1.0))
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                raise InputError(f"{source}: row {int(rows[first])}, column {name!r}: label {column[first]:g} is not 0 or 1 "
                                 f"({int(bad.sum())} such value(s)); classification labels must be 0/1 "
                                 "(use --task-type regression for continuous targets)")


@dataclass(frozen=True)
class LabelStats:
    """Per-task mean and standard deviation of the training labels (regression targets are z-scored with them)."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, labels: np.ndarray) -> "LabelStats":
        mean = np.nanmean(labels, axis=0)
        std = np.nanstd(labels, axis=0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)  # a constant task is left unscaled
        return cls([float(m) for m in np.nan_to_num(mean)], [float(s) for s in std])

    @classmethod
    def identity(cls, n_tasks: int) -> "LabelStats":
        return cls([0.0] * n_tasks, [1.0] * n_tasks)

    def scale(self, labels: np.ndarray) -> np.ndarray:
        return ((labels - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def unscale(self, values: np.ndarray) -> np.ndarray:
        return (values * np.asarray(self.std, np.float32) + np.asarray(self.mean, np.float32)).astype(np.float32)
