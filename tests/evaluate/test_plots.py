import numpy as np

from lgmcl_dgl.evaluate.plots import parity_plot, roc_curves, training_curves

PNG = b"\x89PNG"


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (40, 2)).astype(np.float32)
    labels[:5, 1] = np.nan
    probs = rng.random((40, 2)).astype(np.float32)
    assert roc_curves(labels, probs, ["a", "b"], tmp_path / "roc.png").read_bytes()[:4] == PNG
    values = rng.normal(size=(30, 1)).astype(np.float32)
    assert parity_plot(values, values + 0.1, ["y"], tmp_path / "parity.png").read_bytes()[:4] == PNG
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_roc_auc": 0.5 + e / 20} for e in range(1, 5)]
    assert training_curves(history, tmp_path / "curves.png", "roc_auc").read_bytes()[:4] == PNG
