"""scikit-learn estimators over SMILES: ``LGMCLClassifier`` and ``LGMCLRegressor``.

They are a thin layer over the typed API, so a model fitted here is an ordinary RUN directory:
``fit`` writes X and y to a CSV and calls ``lgmcl_dgl.finetune.finetune``; ``predict`` scores
SMILES with the run's ``Ensemble`` as ``lgmcl predict`` does. Invalid SMILES are handled as in
the CLI: ``fit`` refuses them naming the rows and RDKit's reason, ``predict`` keeps their rows
with NaN and the reason (``return_errors=True``), never dropping one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from lgmcl_dgl.data.artifacts import ArtifactError, Manifest, atomic_write_text
from lgmcl_dgl.data.load import InputError, parse_smiles
from lgmcl_dgl.evaluate.labels import check_labels
from lgmcl_dgl.evaluate.run_dir import RUN_KIND, run_seeds

SMILES_COLUMN = "smiles"
CHUNK = 1024  # molecules featurised and scored at a time in predict: bounds memory as the CLI's --chunk-size


def _smiles_of(X: Any) -> list[str]:
    """One SMILES per row from a list, 1-D array, Series or one-column DataFrame / 2-D array.

    A missing cell (None, NaN) becomes an empty SMILES, reported as invalid like an empty CSV cell;
    anything else that is not a string (a numeric matrix) is refused: the model reads molecules only.
    """
    values = X.to_numpy(dtype=object) if isinstance(X, (pd.DataFrame, pd.Series)) else np.asarray(X, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"X must be one column of SMILES strings, got an array of shape {values.shape}")
    smiles = []
    for row, value in enumerate(values):
        if isinstance(value, str):
            smiles.append(value.strip())
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            smiles.append("")
        else:
            raise ValueError(f"X: row {row} holds {value!r} ({type(value).__name__}), not a SMILES string")
    return smiles


def _labels_of(y: Any, n: int) -> tuple[np.ndarray, list[str]]:
    """(n, tasks) float32 labels, NaN = missing, and task names (a DataFrame's columns, else y / y0, y1, ...)."""
    names = [str(c) for c in y.columns] if isinstance(y, pd.DataFrame) else None
    try:
        labels = np.asarray(y, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must hold numbers (NaN = missing label): {exc}") from None
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or len(labels) != n:
        raise ValueError(f"y must have one row per SMILES ({n}), got shape {labels.shape}")
    names = names or (["y"] if labels.shape[1] == 1 else [f"y{j}" for j in range(labels.shape[1])])
    infinite = np.argwhere(np.isinf(labels))
    if len(infinite):
        row, column = infinite[0]
        raise ValueError(f"y: row {row}, column {names[column]!r}: label {labels[row, column]} is not finite "
                         f"({len(infinite)} such value(s)); NaN marks a missing label")
    if SMILES_COLUMN in names or len(set(names)) != len(names):
        raise ValueError(f"y's column names must be distinct and not {SMILES_COLUMN!r}, got {names}")
    return labels, names


def _refuse_invalid(smiles: list[str]) -> None:
    """Every SMILES must be a molecule to train on: name the rows and RDKit's reason otherwise."""
    problems = [(row, s, reason) for row, s in enumerate(smiles) for reason in [parse_smiles(s)[1]] if reason]
    if problems:
        shown = "; ".join(f"row {row} {s!r}: {reason}" for row, s, reason in problems[:5])
        raise InputError(f"X: {len(problems)} of {len(smiles)} SMILES are not valid molecules "
                         f"(rows are 0-based positions in X; fix or remove them before fit): {shown}")


class _LGMCLEstimator(BaseEstimator):
    """Shared fit / predict / save of both estimators; ``_task_type`` tells them apart."""

    _task_type: str

    def __init__(self, *, preset: str = "small", overrides: dict | None = None, pretrained: str | None = None,
                 modalities: list[str] | None = None, freeze_encoders: bool = False, epochs: int = 30,
                 patience: int | None = 10, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-3,
                 validation_fraction: float = 0.1, n_seeds: int = 1, random_state: int = 0, device: str = "auto",
                 n_jobs: int | None = None, work_dir: str | None = None, verbose: bool = False) -> None:
        self.preset = preset
        self.overrides = overrides
        self.pretrained = pretrained
        self.modalities = modalities
        self.freeze_encoders = freeze_encoders
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_seeds = n_seeds
        self.random_state = random_state
        self.device = device
        self.n_jobs = n_jobs
        self.work_dir = work_dir
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # X is SMILES: a list, 1-D array or one column
        tags.input_tags.one_d_array = True
        tags.target_tags.multi_output = True  # 2-D y: one task per column, NaN = missing label
        return tags

    # ------------------------------------------------------------------------------ fit

    def _finetune_config(self, task_names: list[str]):
        from lgmcl_dgl.finetune import FinetuneConfig

        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if not isinstance(self.random_state, (int, np.integer)) or self.n_seeds < 1:
            raise ValueError(f"random_state must be an int and n_seeds >= 1, got {self.random_state!r}, {self.n_seeds}")
        validate = self.validation_fraction > 0
        return FinetuneConfig(
            preset=self.preset, overrides=dict(self.overrides or {}), pretrained=self.pretrained,
            modalities=list(self.modalities) if self.modalities else None, freeze_encoders=self.freeze_encoders,
            task_type=self._task_type, smiles_column=SMILES_COLUMN, target_columns=task_names, split="random",
            split_sizes=(1 - self.validation_fraction, self.validation_fraction, 0.0),
            seeds=[int(self.random_state) + k for k in range(self.n_seeds)], epochs=self.epochs,
            patience=self.patience if validate else None, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, device=self.device, jobs=self.n_jobs, progress=self.verbose)

    def fit(self, X: Any, y: Any) -> _LGMCLEstimator:
        """Train on every molecule of X (less the internal validation part that early stopping watches).

        The run directory goes to a new folder under ``work_dir`` (kept), or to a temporary folder
        removed with this estimator; ``save`` copies it somewhere lasting.
        """
        from lgmcl_dgl.finetune import finetune

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        smiles = _smiles_of(X)
        labels, task_names = _labels_of(y, len(smiles))
        _refuse_invalid(smiles)
        check_labels(labels, task_names, self._task_type, "y")
        config = self._finetune_config(task_names)
        if self.work_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="lgmcl-fit-")
            folder = Path(self._temporary.name)
        else:
            self._temporary = None
            Path(self.work_dir).mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="lgmcl-fit-", dir=self.work_dir))
        frame = pd.DataFrame({SMILES_COLUMN: smiles, **{name: labels[:, j] for j, name in enumerate(task_names)}})
        source = atomic_write_text(folder / "train.csv", frame.to_csv(index=False))
        run = finetune(source, folder / "run", config)
        dropped = pd.read_csv(run / "invalid.csv")
        if len(dropped):  # parsed but could not be featurised: still a molecule the model would silently skip
            first = dropped.iloc[0]
            raise InputError(f"X: {len(dropped)} molecule(s) could not be featurised, first row {first['row']}: "
                             f"{first['reason']}")
        self._use_run(run)
        return self

    def _use_run(self, run: Path) -> None:
        from lgmcl_dgl.evaluate.predict import Ensemble

        self._ensemble = Ensemble(run, self.device)
        if self._ensemble.task_type != self._task_type:
            raise ArtifactError(f"{run}: holds a {self._ensemble.task_type} model, not {self._task_type}")
        self.run_dir_ = Path(run)
        self.task_names_ = list(self._ensemble.task_names)
        self.n_features_in_ = 1  # one column: the SMILES

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> _LGMCLEstimator:
        """A fitted estimator from a finished RUN (``save`` or ``lgmcl finetune``); the directory is used in place.

        Its parameters are the run's settings, so ``clone`` refits the same model; a CLI run's test
        part and split kind have no parameter (a refit trains on all of X). ``random_state`` is the first seed.
        """
        config = Manifest.read(run_dir, kind=RUN_KIND).config
        seeds = run_seeds(run_dir)
        estimator = cls(preset=config["preset"], overrides=config["overrides"] or None, pretrained=config["pretrained"],
                        modalities=config["modalities"], freeze_encoders=config["freeze_encoders"],
                        epochs=config["epochs"], patience=config["patience"], batch_size=config["batch_size"],
                        lr=config["lr"], weight_decay=config["weight_decay"],
                        validation_fraction=config["split_sizes"][1], n_seeds=len(seeds), random_state=seeds[0],
                        device=device)
        estimator._temporary = None
        estimator._use_run(Path(run_dir))
        return estimator

    def save(self, path: str | Path) -> Path:
        """Copy the fitted RUN directory to ``path`` (which must not exist), whole or not at all."""
        check_is_fitted(self)
        target = Path(path)
        if target.exists():
            raise ArtifactError(f"{target}: already exists; choose a new path")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        shutil.copytree(self.run_dir_, partial)
        os.replace(partial, target)
        return target

    def __getstate__(self) -> dict:
        """Pickles hold the run directory's path: refused while that directory is temporary."""
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns the live __dict__
        if getattr(self, "_temporary", None) is not None:
            raise TypeError(f"{type(self).__name__} was fitted into a temporary directory that goes away with it: "
                            "save(path) and load it with from_run(path), or fit with work_dir=... to pickle it")
        state.pop("_ensemble", None)  # the models are loaded again from run_dir_
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "run_dir_" in state:
            self._use_run(self.run_dir_)

    # ------------------------------------------------------------------------------ predict

    def _scores(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(n, tasks) seed-ensemble mean in original units (probabilities for classification), NaN
        where a row failed, and the reasons ('' where none), chunk by chunk as ``lgmcl predict``."""
        from lgmcl_dgl.featurize.dataset import MoleculeRecord
        from lgmcl_dgl.featurize.pipeline import featurize_smiles

        check_is_fitted(self)
        smiles = _smiles_of(X)
        ensemble = self._ensemble
        scores = np.full((len(smiles), len(self.task_names_)), np.nan)
        errors = np.full(len(smiles), "", dtype=object)
        for start in range(0, len(smiles), CHUNK):
            rows = np.arange(start, min(start + CHUNK, len(smiles)))
            results = featurize_smiles(smiles[start:start + CHUNK], ensemble.featurize_config(), rows=rows)
            valid = np.array([i for i, r in enumerate(results) if isinstance(r, MoleculeRecord)], dtype=np.int64)
            errors[rows] = ["" if isinstance(r, MoleculeRecord) else r.reason for r in results]
            records = [results[i] for i in valid]
            texts = ensemble.describe([r.smiles for r in records]) if ensemble.uses_text else None
            scores[rows[valid]] = ensemble.predict_records(records, texts).mean(axis=0)
        return scores, errors

    @staticmethod
    def _answer(values: np.ndarray, errors: np.ndarray, return_errors: bool):
        """``values``, with the reasons when asked for them; otherwise failed rows are announced by a warning."""
        if return_errors:
            return values, errors
        failed = np.flatnonzero(errors != "")
        if len(failed):
            warnings.warn(f"{len(failed)} of {len(errors)} SMILES could not be used; their predictions are NaN "
                          f"(first: row {failed[0]}: {errors[failed[0]]}); return_errors=True gives every reason",
                          UserWarning, stacklevel=3)
        return values

    def _single_task(self) -> bool:
        return len(self.task_names_) == 1


class LGMCLClassifier(ClassifierMixin, _LGMCLEstimator):
    """LGM-CL classification over SMILES; y is 0/1 (bool works), 2-D for several tasks, NaN = missing label.

    ``predict_proba`` is (n, 2) for one task, as scikit-learn expects, and (n, tasks) of
    P(label = 1) for several; rows whose SMILES could not be used hold NaN.
    """

    _task_type = "classification"

    def _use_run(self, run: Path) -> None:
        super()._use_run(run)
        classes = np.array([0, 1])
        self.classes_ = classes if self._single_task() else [classes] * len(self.task_names_)

    def predict_proba(self, X: Any, return_errors: bool = False):
        """(n, 2) [P(0), P(1)] for one task, (n, tasks) P(1) for several; with ``return_errors`` also the reasons."""
        scores, errors = self._scores(X)
        probabilities = np.column_stack([1 - scores[:, 0], scores[:, 0]]) if self._single_task() else scores
        return self._answer(probabilities, errors, return_errors)

    def predict(self, X: Any, return_errors: bool = False):
        """0/1 labels (threshold 0.5) as floats, NaN where a row failed: (n,) for one task, (n, tasks) for several."""
        scores, errors = self._scores(X)
        labels = np.where(np.isnan(scores), np.nan, (scores >= 0.5).astype(float))
        labels = labels[:, 0] if self._single_task() else labels
        return self._answer(labels, errors, return_errors)


class LGMCLRegressor(RegressorMixin, _LGMCLEstimator):
    """LGM-CL regression over SMILES; y in any units (trained z-scored), 2-D for several tasks, NaN = missing."""

    _task_type = "regression"

    def predict(self, X: Any, return_errors: bool = False):
        """Values in y's units, NaN where a row failed: (n,) for one task, (n, tasks) for several."""
        scores, errors = self._scores(X)
        values = scores[:, 0] if self._single_task() else scores
        return self._answer(values, errors, return_errors)
