"""``lgmcl evaluate``: a RUN's metrics recomputed on any labelled data, or on one part of its own splits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lgmcl_dgl.data.artifacts import Manifest, atomic_write_json, atomic_write_text
from lgmcl_dgl.data.load import DEFAULT_ENCODING, InputError, load_molecules, write_invalid_csv
from lgmcl_dgl.data.splits import PARTS
from lgmcl_dgl.evaluate import plots
from lgmcl_dgl.evaluate.labels import check_labels
from lgmcl_dgl.evaluate.metrics import PRIMARY_METRIC, score, summarize_seeds
from lgmcl_dgl.evaluate.predict import Ensemble, labelled_predictions
from lgmcl_dgl.evaluate.run_dir import RUN_KIND, seed_dir, smiles_column_for, trained_smiles_column


@dataclass
class EvaluateConfig:
    smiles_column: str | None = None  # None: the run's SMILES column when the input has it, else guessed
    target_columns: list[str] | None = None  # default: the run's task names
    split: str | None = None  # with no INPUT: score each seed on this part of its own split
    batch_size: int = 256
    device: str = "cpu"
    encoding: str = DEFAULT_ENCODING  # of INPUT (its own split is read as the run read it)


def evaluate_run(run: str | Path, source: str | Path | None = None, out: str | Path | None = None,
                 config: EvaluateConfig | None = None) -> Path:
    """Score every seed of ``run`` (and their mean prediction) on ``source``; write ``out``/metrics.json."""
    config = config or EvaluateConfig()
    run = Path(run)
    ensemble = Ensemble(run, config.device)
    if source is None:
        part = config.split or "test"
        if part not in PARTS:
            raise ValueError(f"unknown split part {part!r}; choose from {', '.join(PARTS)}")
        out = Path(out) if out is not None else run / "evaluations" / part
        return _evaluate_own_split(ensemble, run, part, out, config)
    out = Path(out) if out is not None else run / "evaluations" / Path(str(source)).stem
    columns = config.target_columns or ensemble.task_names
    table = load_molecules(source, smiles_column_for(run, source, config.smiles_column, config.encoding), columns,
                           require_targets=True, encoding=config.encoding)
    if table.task_names != ensemble.task_names:
        raise InputError(f"{table.source}: columns {table.task_names} are not the run's tasks {ensemble.task_names}; "
                         "name the columns holding them with --target-columns, in that order")
    check_labels(table.labels, table.task_names, ensemble.task_type, table.source, table.rows)
    per_seed = _predict(ensemble, table.smiles, table.rows, config.batch_size)
    write_invalid_csv(out / "invalid.csv", table.invalid)
    result = _scores(ensemble, table.labels, per_seed)
    result.update({"source": str(table.source), "n_molecules": len(table), "n_invalid": len(table.invalid)})
    _write_outputs(out, ensemble, table.rows, table.smiles, table.labels, per_seed, result)
    return out


def _evaluate_own_split(ensemble: Ensemble, run: Path, part: str, out: Path, config: EvaluateConfig) -> Path:
    """Each seed on its own part (random splits differ per seed, so there is no ensemble here)."""
    manifest = Manifest.read(run, kind=RUN_KIND)
    source = manifest.extra["source"]
    table = load_molecules(source, trained_smiles_column(run), ensemble.task_names, require_targets=True,
                           encoding=manifest.extra.get("encoding", DEFAULT_ENCODING))
    position_of = {int(r): i for i, r in enumerate(table.rows)}
    metric = PRIMARY_METRIC[ensemble.task_type]
    seed_scores = []
    for k, seed in enumerate(ensemble.seeds):
        rows = json.loads((seed_dir(run, seed) / "split.json").read_text())[part]
        positions = np.array([position_of[r] for r in rows if r in position_of], dtype=np.int64)
        if not len(positions):
            raise InputError(f"{run}: seed {seed} has no molecules in its {part!r} part")
        smiles = [table.smiles[i] for i in positions]
        predictions = _predict(ensemble, smiles, table.rows[positions], config.batch_size, only=k)
        seed_scores.append(score(ensemble.task_type, table.labels[positions], predictions[0], ensemble.task_names))
    result = {"metric": metric, "task_type": ensemble.task_type, "split": part, "source": str(source),
              "seeds": ensemble.seeds, part: summarize_seeds([s[metric] for s in seed_scores]), "per_seed": seed_scores}
    atomic_write_json(out / "metrics.json", result)
    return out


def _predict(ensemble: Ensemble, smiles: list[str], rows: np.ndarray, batch_size: int, only: int | None = None) -> np.ndarray:
    """(seeds, molecules, tasks) predictions in original units; every molecule must featurise."""
    from lgmcl_dgl.featurize.dataset import MoleculeRecord
    from lgmcl_dgl.featurize.pipeline import featurize_smiles

    results = featurize_smiles(smiles, ensemble.featurize_config(), rows=rows)
    failed = [r for r in results if not isinstance(r, MoleculeRecord)]
    if failed:
        raise InputError(f"row {failed[0].row}: cannot featurise {failed[0].smiles!r}: {failed[0].reason}")
    texts = ensemble.describe([r.smiles for r in results]) if ensemble.uses_text else None
    per_seed = ensemble.predict_records(results, texts, batch_size)
    return per_seed[[only]] if only is not None else per_seed


def _scores(ensemble: Ensemble, labels: np.ndarray, per_seed: np.ndarray) -> dict[str, Any]:
    metric = PRIMARY_METRIC[ensemble.task_type]
    seed_scores = [score(ensemble.task_type, labels, p, ensemble.task_names) for p in per_seed]
    return {"metric": metric, "task_type": ensemble.task_type, "seeds": ensemble.seeds,
            "data": summarize_seeds([s[metric] for s in seed_scores]),
            "ensemble": score(ensemble.task_type, labels, per_seed.mean(axis=0), ensemble.task_names),
            "per_seed": seed_scores}


def _write_outputs(out: Path, ensemble: Ensemble, rows: np.ndarray, smiles: list[str], labels: np.ndarray,
                   per_seed: np.ndarray, result: dict[str, Any]) -> None:
    mean = per_seed.mean(axis=0)
    frame = labelled_predictions(rows, smiles, ensemble.task_names, labels, mean)
    atomic_write_text(out / "predictions.csv", frame.to_csv(index=False, float_format="%.6g"))
    if ensemble.task_type == "classification":
        plots.roc_curves(labels, mean, ensemble.task_names, out / "roc.png", "seed-ensemble mean")
    else:
        plots.parity_plot(labels, mean, ensemble.task_names, out / "parity.png", "seed-ensemble mean")
    atomic_write_json(out / "metrics.json", result)
