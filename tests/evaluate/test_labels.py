import numpy as np
import pytest

from lgmcl_dgl.data.load import InputError
from lgmcl_dgl.evaluate.labels import LabelStats, check_labels, infer_task_type


def test_infer_task_type():
    assert infer_task_type(np.array([[0, 1], [np.nan, 1]], np.float32)) == "classification"
    assert infer_task_type(np.array([[0.5], [1]], np.float32)) == "regression"


def test_classification_labels_out_of_range_name_row_and_column():
    labels = np.array([[0], [1], [2]], np.float32)
    with pytest.raises(InputError, match=r"data.csv: row 7, column 'y': label 2 is not 0 or 1"):
        check_labels(labels, ["y"], "classification", "data.csv", rows=np.array([3, 5, 7]))
    check_labels(labels, ["y"], "regression", "data.csv")


def test_all_nan_task_is_refused():
    labels = np.array([[0, np.nan], [1, np.nan]], np.float32)
    with pytest.raises(InputError, match="column 'b' has no labels"):
        check_labels(labels, ["a", "b"], "classification", "x.csv")


def test_label_stats_round_trip_and_constant_task():
    labels = np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]], np.float32)
    stats = LabelStats.fit(labels)
    assert stats.mean == [2.0, 5.0] and stats.std == [1.0, 1.0]
    scaled = stats.scale(labels)
    np.testing.assert_allclose(scaled[:2, 0], [-1, 1])
    np.testing.assert_allclose(stats.unscale(scaled)[:2], labels[:2])
