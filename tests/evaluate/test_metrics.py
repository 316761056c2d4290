import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lgmcl_dgl.evaluate.metrics import (classification_metrics, format_over_seeds, format_skipped, regression_metrics,
                                       summarize_seeds)


def test_roc_auc_masks_missing_labels_and_names_single_class_tasks():
    labels = np.array([[1, 0, np.nan], [0, 0, 1], [1, np.nan, 1], [0, 0, np.nan]], np.float32)
    probs = np.array([[0.9, 0.2, 0.5], [0.2, 0.1, 0.4], [0.4, 0.3, 0.7], [0.5, 0.6, 0.1]], np.float32)
    result = classification_metrics(labels, probs, ["a", "b", "c"])
    assert result["skipped_tasks"] == ["b", "c"]  # b has only 0s, c only 1s
    assert result["roc_auc"] == pytest.approx(roc_auc_score([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.5]))
    assert result["per_task"]["a"]["n"] == 4 and result["per_task"]["a"]["positives"] == 2
    assert 0 < result["pr_auc"] <= 1


def test_all_tasks_single_class_gives_no_mean():
    result = classification_metrics(np.ones((3, 1), np.float32), np.full((3, 1), 0.5, np.float32), ["t"])
    assert result["roc_auc"] is None and result["skipped_tasks"] == ["t"]


def test_regression_metrics_in_given_units():
    labels = np.array([[1.0], [2.0], [np.nan], [4.0]], np.float32)
    preds = np.array([[1.5], [2.0], [100.0], [3.0]], np.float32)
    result = regression_metrics(labels, preds, ["y"])
    assert result["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1) / 3))
    assert result["mae"] == pytest.approx(0.5)
    assert result["per_task"]["y"]["n"] == 3


def test_summarize_seeds():
    summary = summarize_seeds([0.8, 0.9, 1.0])
    assert summary["mean"] == pytest.approx(0.9)
    assert summary["std"] == pytest.approx(np.std([0.8, 0.9, 1.0]))
    assert summary["per_seed"] == [0.8, 0.9, 1.0]


def test_one_seed_shows_its_value_several_their_spread():
    assert format_over_seeds(summarize_seeds([0.91234])) == "0.912"
    assert format_over_seeds(summarize_seeds([0.8, 1.0])) == "0.900 +- 0.100"
    assert format_over_seeds(summarize_seeds([0.8, None])) == "0.800"  # one seed scored
    assert format_over_seeds(summarize_seeds([None])) == "n/a"


def test_skipped_tasks_are_named_with_their_seeds_when_there_are_several():
    assert format_skipped({0: ["NR-AR"]}) == "NR-AR"
    assert format_skipped({0: ["NR-AR", "SR-MMP"], 1: ["NR-AR"], 2: []}) == "NR-AR (seeds 0, 1), SR-MMP (seed 0)"
    assert format_skipped({0: [], 1: []}) == ""
    assert format_skipped({0: [f"t{j}" for j in range(12)]}, limit=3) == "t0, t1, t2 and 9 more"
