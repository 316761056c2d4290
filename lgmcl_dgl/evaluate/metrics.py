"""Scores of predictions against labels, per task and averaged, with NaN labels left out.

Classification: ROC-AUC (the MoleculeNet metric) and PR-AUC, averaged over the tasks that have
both classes in the data scored; the others are named in ``skipped_tasks`` rather than silently
dropped. Regression: RMSE, MAE and R2 in original units.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score

#: The headline metric of each task type and whether larger is better.
PRIMARY_METRIC = {"classification": "roc_auc", "regression": "rmse"}
HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "rmse": False, "mae": False, "r2": True}
#: Why a task is in ``skipped_tasks``, per task type.
SKIPPED_BECAUSE = {"classification": "one class only", "regression": "no labels"}


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, task_names: list[str]) -> dict:
    per_task, skipped = {}, []
    for j, name in enumerate(task_names):
        present = ~np.isnan(labels[:, j])
        y, p = labels[present, j], probabilities[present, j]
        if np.unique(y).size < 2:
            skipped.append(name)
            continue
        per_task[name] = {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
                          "n": int(present.sum()), "positives": int(y.sum())}
    return {"roc_auc": _mean(per_task, "roc_auc"), "pr_auc": _mean(per_task, "pr_auc"),
            "per_task": per_task, "skipped_tasks": skipped}


def regression_metrics(labels: np.ndarray, predictions: np.ndarray, task_names: list[str]) -> dict:
    per_task, skipped = {}, []
    for j, name in enumerate(task_names):
        present = ~np.isnan(labels[:, j])
        y, p = labels[present, j], predictions[present, j]
        if y.size == 0:
            skipped.append(name)
            continue
        per_task[name] = {"rmse": float(np.sqrt(mean_squared_error(y, p))), "mae": float(mean_absolute_error(y, p)),
                          "r2": float(r2_score(y, p)) if y.size > 1 else float("nan"), "n": int(y.size)}
    return {"rmse": _mean(per_task, "rmse"), "mae": _mean(per_task, "mae"), "r2": _mean(per_task, "r2"),
            "per_task": per_task, "skipped_tasks": skipped}


def score(task_type: str, labels: np.ndarray, predictions: np.ndarray, task_names: list[str]) -> dict:
    """All metrics of one task type; ``predictions`` are probabilities or values in original units."""
    if task_type == "classification":
        return classification_metrics(labels, predictions, task_names)
    return regression_metrics(labels, predictions, task_names)


def summarize_seeds(values: list[float]) -> dict:
    """``{"mean", "std", "per_seed"}`` of one metric over seeds (population std, 0 for one seed)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return {"mean": float(np.mean(finite)) if finite else None,
            "std": float(np.std(finite)) if finite else None,
            "per_seed": [None if v is None or not np.isfinite(v) else float(v) for v in values]}


def format_over_seeds(summary: dict) -> str:
    """``0.912 +- 0.013`` over several seeds; ``0.912`` for one (a spread of one value says nothing); ``n/a``."""
    if summary.get("mean") is None:
        return "n/a"
    scored = [v for v in summary["per_seed"] if v is not None]
    return f"{summary['mean']:.3f}" + (f" +- {summary['std']:.3f}" if len(scored) > 1 else "")


def format_skipped(skipped_by_seed: dict[int, list[str]], limit: int = 10) -> str:
    """``NR-AR (seeds 0, 1), SR-MMP (seed 2)``: the tasks a score left out and for which seeds; "" if none."""
    seeds_of: dict[str, list[int]] = {}
    for seed, tasks in skipped_by_seed.items():
        for task in tasks:
            seeds_of.setdefault(task, []).append(seed)
    many = len(skipped_by_seed) > 1
    names = [f"{task} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})" if many else task
             for task, seeds in seeds_of.items()]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _mean(per_task: dict, key: str) -> float | None:
    values = [m[key] for m in per_task.values() if np.isfinite(m[key])]
    return float(np.mean(values)) if values else None
