"""The RUN directory that ``lgmcl finetune`` writes and ``evaluate`` / ``predict`` read.

```
RUN/
  finetune_config.json     written first: the settings a --resume must match
  manifest.json            kind "finetune"; written last: a run with a manifest is complete;
                           extra.smiles_column: the input column the SMILES came from
  metrics.json             {"metric", "test": {"mean", "std", "per_seed"}, "val": {...}, "train": {...}, ...}
  invalid.csv              input rows that could not be used, with the reason
  run.log                  RDKit's messages (warnings on valid molecules too), appended by every invocation
  domain/                  train_morgan.npy (first seed's training molecules, packed Morgan bits) and
                           domain.json (in-domain threshold): the applicability domain (evaluate/domain.py)
  seed_<k>/
    split.json             {"train": rows, "val": rows, "test": rows} (data rows of the input)
    model/                 everything predict needs: model.safetensors + model_config.json (models.io),
                           card.json (tasks, label statistics, featurizer and description settings), tokenizer/
    checkpoints/           the training loop's resumable state (removed once the seed is done)
    predictions_<part>.csv row, smiles, labels and predictions in original units
    curves.csv, curves.png training loss and validation metric per epoch
    roc_<part>.png | parity_<part>.png
    metrics.json           this seed's scores on every part
    manifest.json          written last: a finished seed is never trained again on --resume
```
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lgmcl_dgl.data.artifacts import MANIFEST, ArtifactError
from lgmcl_dgl.data.load import DEFAULT_ENCODING, SMILES_FILE_SUFFIXES, csv_columns, resolve_source
from lgmcl_dgl.evaluate.labels import LabelStats

RUN_KIND = "finetune"
RUN_CONFIG = "finetune_config.json"
RUN_LOG = "run.log"
SEED_KIND = "finetune-seed"
MODEL_CARD = "card.json"
TOKENIZER_DIR = "tokenizer"


def seed_dir(run: str | Path, seed: int) -> Path:
    return Path(run) / f"seed_{seed}"


def model_dir(run: str | Path, seed: int) -> Path:
    return seed_dir(run, seed) / "model"


@dataclass
class ModelCard:
    """What a saved model predicts and how its inputs must be made; saved as ``card.json``.

    ``featurizer`` and ``text`` are the settings of the featurize and description steps the model
    was trained on: inputs made with other settings are refused, not silently mispredicted.
    """

    model_config: dict[str, Any]
    task_names: list[str]
    task_type: str
    label_stats: LabelStats
    featurizer: dict[str, Any]
    text: dict[str, Any]  # description backend and its options, tokenizer max length
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCard":
        data = dict(data)
        data["label_stats"] = LabelStats(**data["label_stats"])
        return cls(**data)


def read_card(directory: str | Path) -> ModelCard:
    path = Path(directory) / MODEL_CARD
    if not path.is_file():
        raise ArtifactError(f"{directory}: no {MODEL_CARD}; not a saved fine-tuned model")
    return ModelCard.from_dict(json.loads(path.read_text()))


def finished_seeds(run: str | Path) -> list[int]:
    """Seeds whose directory holds a manifest, in seed order."""
    seeds = []
    for path in Path(run).glob("seed_*"):
        if (path / MANIFEST).is_file() and path.name[5:].lstrip("-").isdigit():
            seeds.append(int(path.name[5:]))
    return sorted(seeds)


def run_seeds(run: str | Path) -> list[int]:
    """The finished seeds of a run; a clear error when there are none."""
    run = Path(run)
    if not run.is_dir():
        raise ArtifactError(f"{run}: no such run directory")
    seeds = finished_seeds(run)
    if not seeds and not (run / RUN_CONFIG).is_file():
        kind = json.loads((run / MANIFEST).read_text()).get("kind") if (run / MANIFEST).is_file() else None
        if kind == SEED_KIND:
            raise ArtifactError(f"{run}: one seed of the run {run.parent}; give the run, {run.parent}")
        holds = f"holds a {kind!r} output, " if kind else ""
        raise ArtifactError(f"{run}: {holds}not a finetune run (no {RUN_CONFIG}); `lgmcl finetune INPUT -o {run}` "
                            "makes one, or give the directory such a command wrote (lgmcl-runs/<name> by default)")
    if not seeds:
        raise ArtifactError(f"{run}: a finetune run with no finished seed yet (no seed_*/{MANIFEST}); finish it "
                            "by rerunning the finetune command that started it with --resume")
    return seeds


def trained_smiles_column(run: str | Path) -> str | None:
    """The input column the run's SMILES came from (None: a SMILES file, or a run that did not record it)."""
    run = Path(run)
    if (run / MANIFEST).is_file():
        recorded = json.loads((run / MANIFEST).read_text()).get("extra", {}).get("smiles_column")
        if recorded:
            return recorded
    if (run / RUN_CONFIG).is_file():
        return json.loads((run / RUN_CONFIG).read_text()).get("smiles_column")
    return None


def smiles_column_for(run: str | Path, source: str | Path, given: str | None = None,
                      encoding: str = DEFAULT_ENCODING) -> str | None:
    """``given``, else the run's SMILES column when ``source`` is a CSV that has it, else None (then guessed
    as for any input): new data laid out like the training data needs no --smiles-column."""
    trained = None if given else trained_smiles_column(run)
    if trained is None or Path(source).is_dir():
        return given
    path, _ = resolve_source(source)
    if path.suffix.lower() in SMILES_FILE_SUFFIXES:
        return None
    return trained if trained in csv_columns(path, encoding) else None
