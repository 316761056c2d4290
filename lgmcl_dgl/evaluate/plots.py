"""Figures a chemist reads at a glance: ROC curves per task, parity plots, training curves.

Matplotlib's Agg backend only (no display needed); each function writes one PNG atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from lgmcl_dgl.data.artifacts import atomic_write_bytes

MAX_PANELS = 12  # more tasks than this (ToxCast) get the best and worst six, not 617 panels


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def _grid(n: int):
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = _pyplot().subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _chosen_tasks(scores: dict[str, float]) -> list[str]:
    ordered = sorted(scores, key=scores.get, reverse=True)
    return ordered if len(ordered) <= MAX_PANELS else ordered[:MAX_PANELS // 2] + ordered[-MAX_PANELS // 2:]


def roc_curves(labels: np.ndarray, probabilities: np.ndarray, task_names: list[str], path: str | Path,
               title: str = "") -> Path:
    """One ROC panel per task that has both classes, its AUC and class counts in the title."""
    from sklearn.metrics import roc_auc_score, roc_curve

    aucs = {}
    for j, name in enumerate(task_names):
        present = ~np.isnan(labels[:, j])
        if np.unique(labels[present, j]).size == 2:
            aucs[name] = roc_auc_score(labels[present, j], probabilities[present, j])
    tasks = _chosen_tasks(aucs)
    fig, axes = _grid(max(len(tasks), 1))
    if not tasks:
        axes[0].text(0.5, 0.5, "no task has both classes", ha="center", va="center")
    for ax, name in zip(axes, tasks):
        j = task_names.index(name)
        present = ~np.isnan(labels[:, j])
        y, p = labels[present, j], probabilities[present, j]
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=1.6)
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate",
               title=f"{name}\nAUC {aucs[name]:.3f}  ({int(y.sum())}+ / {int((1 - y).sum())}-)")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def parity_plot(labels: np.ndarray, predictions: np.ndarray, task_names: list[str], path: str | Path,
                title: str = "") -> Path:
    """Predicted against measured per task, with the identity line and RMSE / R2 in the title."""
    from sklearn.metrics import r2_score

    fig, axes = _grid(len(task_names[:MAX_PANELS]))
    for ax, name in zip(axes, task_names[:MAX_PANELS]):
        j = task_names.index(name)
        present = ~np.isnan(labels[:, j])
        y, p = labels[present, j], predictions[present, j]
        ax.scatter(y, p, s=8, alpha=0.6)
        if y.size:
            low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
            ax.plot([low, high], [low, high], ls="--", c="grey", lw=0.8)
            rmse = float(np.sqrt(np.mean((y - p) ** 2)))
            r2 = r2_score(y, p) if y.size > 1 else float("nan")
            ax.set_title(f"{name}\nRMSE {rmse:.3f}  R2 {r2:.3f}  (n={y.size})")
        ax.set(xlabel="measured", ylabel="predicted")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def training_curves(history: list[dict], path: str | Path, metric: str) -> Path:
    """Training loss and the validation metric per epoch, the best epoch marked."""
    epochs = [h["epoch"] for h in history]
    from matplotlib.ticker import MaxNLocator

    fig, (loss_ax, metric_ax) = _pyplot().subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    for ax in (loss_ax, metric_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.plot(epochs, [h.get("train_loss") for h in history], marker=".", label="train")
    if any(h.get("val_loss") is not None for h in history):
        loss_ax.plot(epochs, [h.get("val_loss") for h in history], marker=".", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_ax.legend()
    values = [h.get(f"val_{metric}") for h in history]
    metric_ax.plot(epochs, [np.nan if v is None else v for v in values], marker=".", c="C2")
    finite = [(v, e) for v, e in zip(values, epochs) if v is not None and np.isfinite(v)]
    if finite:
        best_value, best_epoch = (max if metric in ("roc_auc", "pr_auc", "r2") else min)(finite)
        metric_ax.axvline(best_epoch, ls="--", c="grey", lw=0.8)
        metric_ax.set_title(f"validation {metric} (best {best_value:.3f} at epoch {best_epoch})")
    metric_ax.set(xlabel="epoch", ylabel=metric)
    return _save(fig, path)
