"""The finetune step: a property model per seed, from scratch or from pretrained encoders, with honest metrics.

``finetune(source, run_dir, config)`` featurises and describes the input (cached), splits it,
trains one model per seed with the shared training loop (early stopping on the validation
metric, best-validation weights kept), and writes the RUN directory described in
``lgmcl_dgl.evaluate.run_dir``. A killed run continues with ``resume=True``: finished seeds are
kept, the unfinished one continues from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lgmcl_dgl.data.artifacts import (LOCK, MANIFEST, ArtifactError, Manifest, atomic_write_json, atomic_write_text,
                                     entries_besides_locks, exclusive, remove_leftover_temporaries, sha256_file)
from lgmcl_dgl.data.duplicates import DUPLICATES_CSV, POLICIES, find_duplicates, merged_labels, write_duplicates_csv
from lgmcl_dgl.data.load import DEFAULT_ENCODING, InputError, MoleculeTable, check_guessed_targets, resolve_source
from lgmcl_dgl.data.locations import cache_dir
from lgmcl_dgl.data.rdkit_log import rdkit_messages_logged
from lgmcl_dgl.data.splits import SPLIT_KINDS, Split, make_split
from lgmcl_dgl.evaluate import plots
from lgmcl_dgl.evaluate.domain import load_domain
from lgmcl_dgl.evaluate.inference import Collator, ModelInput, forward, raw_outputs, to_original_units, tokenize
from lgmcl_dgl.evaluate.labels import LabelStats, check_labels, infer_task_type
from lgmcl_dgl.evaluate.metrics import HIGHER_IS_BETTER, PRIMARY_METRIC, score, summarize_seeds
from lgmcl_dgl.evaluate.predict import labelled_predictions
from lgmcl_dgl.evaluate.run_dir import (MODEL_CARD, RUN_CONFIG, RUN_KIND, RUN_LOG, SEED_KIND, TOKENIZER_DIR,
                                        ModelCard, finished_seeds, model_dir, seed_dir)
from lgmcl_dgl.train.batching import DEFAULT_ATOM_BUDGET, featurized_atom_counts

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test")
ENCODERS = ("local", "global_", "text_encoder", "description_encoder")  # pretrained parts; fusion and head start fresh
FEATURIZER_KEYS = ("atom_featurizer", "fingerprints", "erg", "pubchem_explicit_h")
MODEL_CONFIG = "model_config.json"  # the model a run builds, pinned by its first invocation
SCHEDULES = ("constant", "cosine", "linear")
#: Named fine-tuning recipes: FinetuneConfig values a run starts from (``--recipe``). "pretrained" is a
#: reasoned guess for pretrained encoders, not yet measured on the benchmark splits (docs/finetune.md).
RECIPES: dict[str, dict[str, Any]] = {
    "default": {"encoder_lr_factor": 1.0, "schedule": "constant", "warmup_epochs": 0.0, "freeze_epochs": 0},
    "pretrained": {"encoder_lr_factor": 0.1, "schedule": "cosine", "warmup_epochs": 1.0, "freeze_epochs": 1},
}
_RUNTIME_KEYS = ("seeds", "device", "jobs", "resume", "overwrite", "progress", "encoding")


class FinetuneInterrupted(RuntimeError):
    """Training was stopped by a signal; the run continues with ``resume=True``."""


@dataclass
class FinetuneConfig:
    """Settings of one finetune run. Everything except ``_RUNTIME_KEYS`` must match on ``--resume``."""

    preset: str = "small"  # preset name or YAML file (``--preset`` / ``--config``)
    overrides: dict[str, Any] = field(default_factory=dict)  # model config keys, dotted allowed
    pretrained: str | None = None  # a shipped name or a pretrain output directory; None = from scratch
    modalities: list[str] | None = None  # None = the preset's (or pretrained model's)
    freeze_encoders: bool = False
    task_type: str | None = None  # None = the registry's, else inferred from the labels
    smiles_column: str | None = None
    target_columns: list[str] | None = None
    split: str = "random"
    split_file: str | None = None
    split_sizes: tuple[float, float, float] = (0.8, 0.1, 0.1)
    duplicates: str = "keep"  # copies of a molecule: keep each (in one split part), or merge them into one
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int = 30
    patience: int | None = 10
    batch_size: int = 64
    atom_budget: int = DEFAULT_ATOM_BUDGET  # padded atom slots per batch, similar sizes together; 0: size-blind
    lr: float = 1e-3  # fusion and head; the encoders (ENCODERS) train at lr x encoder_lr_factor
    weight_decay: float = 1e-3
    encoder_lr_factor: float = 1.0
    schedule: str = "constant"  # constant | cosine | linear (decay to 0 at the last epoch), after the warm-up
    warmup_epochs: float = 0.0  # linear warm-up from ~0 to the rates, in epochs
    freeze_epochs: int = 0  # encoders frozen for the first K epochs, then trained (freeze_encoders: the whole run)
    atom_featurizer: str | None = None  # None: the pretrained model's, else attentivefp
    description_backend: str = "rdkit"
    description_options: dict[str, Any] = field(default_factory=dict)
    descriptions: str | None = None  # an augment directory to take descriptions from
    device: str = "auto"
    jobs: int | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    encoding: str = DEFAULT_ENCODING  # of the input file (SMILES and labels are ASCII: it cannot change a run)

    def __post_init__(self) -> None:
        if self.split not in SPLIT_KINDS:
            raise ValueError(f"unknown split {self.split!r}; choose from {', '.join(SPLIT_KINDS)} or give --split-file")
        if self.duplicates not in POLICIES:
            raise ValueError(f"unknown duplicates policy {self.duplicates!r}; choose from {', '.join(POLICIES)}")
        self.split_sizes = tuple(float(s) for s in self.split_sizes)
        self.seeds = [int(s) for s in self.seeds]
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if self.encoder_lr_factor < 0 or self.warmup_epochs < 0 or self.freeze_epochs < 0:
            raise ValueError("encoder_lr_factor, warmup_epochs and freeze_epochs must be >= 0")

    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in _RUNTIME_KEYS}


def read_run_config(path: str | Path) -> dict[str, Any]:
    """The settings a run file holds (YAML of FinetuneConfig keys; a RUN's finetune_config.json is one), checked
    against the fields: a misspelt key would otherwise be a setting silently not applied."""
    import yaml

    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not a YAML file: {str(exc).splitlines()[0]}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(f"{path}: a run config is a mapping of settings, not a {type(values).__name__}")
    known = {f.name for f in fields(FinetuneConfig)}
    unknown = sorted(str(k) for k in values if k not in known)
    if unknown:
        raise InputError(f"{path}: unknown setting(s) {', '.join(unknown)}; a run config holds {', '.join(sorted(known))}")
    return values


@dataclass
class _Data:
    """The featurised, described, tokenised molecules of the input, shared by every seed."""

    source: Path
    source_sha256: str
    table: MoleculeTable  # valid molecules in input order (canonical SMILES)
    features: Any  # FeaturizedDataset
    featurizer: dict[str, Any]
    task_type: str
    duplicates: Any  # data.duplicates.Duplicates: copies of a molecule, reported in the run
    merged: np.ndarray  # positions of copies whose labels were merged into their first copy: in no split part
    atom_counts: np.ndarray  # atoms per molecule (features order), for size-aware batches
    descriptions: list[str] | None = None
    smiles_ids: list[list[int]] | None = None  # token ids per molecule when the text branch is on
    desc_ids: list[list[int]] | None = None


class _Inputs(torch.utils.data.Dataset):
    """ModelInputs at some positions, labels replaced by the (scaled) training targets; with
    ``text_vectors`` (frozen text encoders' outputs per molecule) in place of the token ids."""

    def __init__(self, data: _Data, positions: np.ndarray, labels: np.ndarray,
                 text_vectors: np.ndarray | None = None) -> None:
        self.data, self.positions, self.labels, self.text_vectors = data, positions, labels, text_vectors

    def __len__(self) -> int:
        return len(self.positions)

    def atom_counts(self) -> np.ndarray:
        return self.data.atom_counts[self.positions]

    def __getitem__(self, index: int) -> ModelInput:
        position = int(self.positions[index])
        record = self.data.features[position]
        record.labels = self.labels[position]
        if self.text_vectors is not None:
            return ModelInput(record, text_vectors=self.text_vectors[position])
        if self.data.smiles_ids is None:
            return ModelInput(record)
        return ModelInput(record, self.data.smiles_ids[position], self.data.desc_ids[position])


# ------------------------------------------------------------------------------------- the step

def finetune(source: str | Path, run_dir: str | Path, config: FinetuneConfig | None = None) -> Path:
    """Fine-tune one model per seed on ``source`` (registry name, CSV or featurize dir); returns ``run_dir``."""
    config = config or FinetuneConfig()
    run = Path(run_dir)
    with exclusive(run / LOCK, wait=False):  # a second job on this run (say --overwrite) would destroy the first's work
        _check_run_dir(run, config)
        with rdkit_messages_logged(run / RUN_LOG):  # in the run's log, not hundreds of lines on the console
            return _finetune(source, run, config)


def _finetune(source: str | Path, run: Path, config: FinetuneConfig) -> Path:
    from lgmcl_dgl.featurize.pipeline import INVALID_CSV

    pretrained = _resolve_pretrained(config.pretrained) if config.pretrained else None
    atom_featurizer = config.atom_featurizer or (_pretrained_featurizer(pretrained) if pretrained else "attentivefp")
    data = _prepare_data(source, config, atom_featurizer)
    _claim_run_dir(run, config)  # only now: a command refused for its input leaves no run that blocks the corrected one
    atomic_write_text(run / INVALID_CSV, pd.read_csv(data.features.path / INVALID_CSV).to_csv(index=False))
    write_duplicates_csv(run / DUPLICATES_CSV, data.table, data.duplicates)
    if data.duplicates.groups:
        log.info("%s: %s; see %s", data.source, data.duplicates.summary(config.duplicates), run / DUPLICATES_CSV)
    model_config, tokenizer, pretrained_weights = _model_setup(data, run, config, pretrained)
    for seed in config.seeds:
        if seed in finished_seeds(run):
            log.info("seed %d already finished in %s; kept", seed, run)
            continue
        _train_seed(data, run, config, seed, model_config, tokenizer, pretrained_weights)
    load_domain(run)  # stores the training fingerprints and threshold predict's applicability domain reads
    return _write_summary(data, run, config, model_config)


def _check_run_dir(run: Path, config: FinetuneConfig) -> None:
    """A fresh directory, --overwrite, or the same run continued with --resume; never a silent overwrite.
    Refuses before any work is done, and writes nothing."""
    saved = run / RUN_CONFIG
    if _run_entries(run) and not config.overwrite:
        if not config.resume:
            raise ArtifactError(f"{run}: already holds a run; pass --resume to continue it, --overwrite to replace it, "
                                "or choose another output directory")
        elif not saved.is_file():
            raise ArtifactError(f"{run}: not a finetune run directory (no {RUN_CONFIG}); cannot resume it")
        else:
            now = json.loads(json.dumps(config.identity()))
            defaults = json.loads(json.dumps(FinetuneConfig().identity()))
            before = {**{k: defaults[k] for k in now}, **json.loads(saved.read_text())}  # a run older than a setting had its default
            changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            if changed:
                raise ArtifactError(f"{run}: cannot resume with other settings; changed: "
                                    + ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in changed))


def _claim_run_dir(run: Path, config: FinetuneConfig) -> None:
    """Make ``run`` this run's (``_check_run_dir`` allowed it): clear it for --overwrite, then record the settings."""
    if config.overwrite:
        for path in _run_entries(run):  # the lock this job holds stays, and the log it is writing
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    run.mkdir(parents=True, exist_ok=True)
    remove_leftover_temporaries(run)  # of a killed job; this one holds RUN/.lock
    (run / MANIFEST).unlink(missing_ok=True)  # incomplete until the summary is written again
    atomic_write_json(run / RUN_CONFIG, config.identity())


def _run_entries(run: Path) -> list[Path]:
    """What ``run`` holds less the lock and RUN_LOG: this job opens both before it claims the directory, so
    neither says the directory holds a run (a command refused for its input leaves only them)."""
    return [p for p in entries_besides_locks(run) if p.name != RUN_LOG]


@contextmanager
def _cached_artifact(kind: str, settings: dict[str, Any], source_sha256: str) -> Iterator[Path]:
    """The cache folder for these settings and input, held under a file lock while it is built: jobs on one
    input at once (seeds in parallel, several terminals or cluster jobs) would otherwise build it together
    and interleave its records."""
    key = hashlib.sha256(json.dumps([settings, source_sha256], sort_keys=True, default=str).encode()).hexdigest()[:16]
    directory = cache_dir() / "artifacts" / f"{kind}-{key}"
    directory.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(directory.with_name(directory.name + ".lock")):
        yield directory


def _resolve_pretrained(name_or_dir: str) -> Path:
    from lgmcl_dgl.pretrained import resolve_pretrained

    return Path(resolve_pretrained(name_or_dir))


def _pretrained_featurizer(pretrained: Path) -> str:
    """The atom featurizer the encoders were pretrained on (their input width depends on it)."""
    try:
        return Manifest.read(pretrained).config.get("atom_featurizer") or "attentivefp"
    except ArtifactError:
        return "attentivefp"


def _prepare_data(source: str | Path, config: FinetuneConfig, atom_featurizer: str) -> _Data:
    from lgmcl_dgl.featurize.dataset import FeaturizedDataset
    from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize

    source_path = Path(source)
    if (source_path / MANIFEST).is_file():
        features_dir = source_path  # a featurize directory given as INPUT
        manifest = Manifest.read(features_dir, kind="featurize")
        table_source = Path(manifest.extra["source"])
        source_sha = manifest.inputs["input"]
        spec = None
    else:
        table_source, spec = resolve_source(source)
        source_sha = sha256_file(table_source)
        featurize_config = FeaturizeConfig(smiles_column=config.smiles_column, target_columns=config.target_columns,
                                           atom_featurizer=atom_featurizer, jobs=config.jobs,
                                           progress=config.progress, encoding=config.encoding)
        with _cached_artifact("featurize", featurize_config.settings(), source_sha) as features_dir:
            featurize(source, features_dir, featurize_config)
    features = FeaturizedDataset(features_dir)
    if config.target_columns and features.task_names != list(config.target_columns):
        raise InputError(f"{features_dir}: holds tasks {features.task_names}, not the requested {config.target_columns}")
    table = MoleculeTable(table_source, features.rows, features.smiles, features.labels, features.task_names,
                          int(features.manifest.counts["n_input"]), spec=spec)
    if spec is None and features.manifest.config.get("target_columns") is None:
        check_guessed_targets(table)
    task_type = config.task_type or (spec.task_type if spec else None) or infer_task_type(table.labels)
    check_labels(table.labels, table.task_names, task_type, table_source, table.rows)
    duplicates = find_duplicates(table)
    if config.duplicates == "merge":
        table.labels = merged_labels(table, duplicates, task_type)
    merged = duplicates.copies if config.duplicates == "merge" else np.zeros(0, np.int64)
    featurizer = {k: features.manifest.config[k] for k in FEATURIZER_KEYS}
    return _Data(table_source, source_sha, table, features, featurizer, task_type, duplicates, merged,
                 featurized_atom_counts(features))


def _descriptions(data: _Data, config: FinetuneConfig) -> list[str]:
    """One description per valid molecule, from ``--descriptions`` or a cached augment run."""
    from lgmcl_dgl.featurize.pipeline import default_jobs
    from lgmcl_dgl.text.augment import AugmentConfig, augment, load_descriptions

    if config.descriptions:
        directory = Path(config.descriptions)
    else:
        augment_config = AugmentConfig(backend=config.description_backend, smiles_column=config.smiles_column,
                                       jobs=config.jobs or default_jobs(), options=dict(config.description_options),
                                       progress=config.progress, encoding=config.encoding)
        with _cached_artifact("augment", augment_config.identity(), data.source_sha256) as directory:
            augment(data.source, directory, augment_config)
    records = load_descriptions(directory)
    missing = [int(r) for r in data.table.rows if int(r) not in records]
    if missing:
        raise ArtifactError(f"{directory}: no description for row(s) {missing[:5]} ({len(missing)} in all); "
                            "it was made from another input or did not finish")
    backends = {records[int(r)].backend for r in data.table.rows[:1]}
    if backends != {config.description_backend}:
        raise ArtifactError(f"{directory}: descriptions come from backend {backends.pop()!r}, "
                            f"but --description-backend is {config.description_backend!r}")
    return [records[int(r)].description for r in data.table.rows]


def _model_setup(data: _Data, run: Path, config: FinetuneConfig, pretrained: Path | None):
    """Model config, tokenizer (pretrained or trained on this input's texts) and encoder weights to start from."""
    from lgmcl_dgl.models.config import load_preset
    from lgmcl_dgl.text.tokenizer import load_tokenizer, train_tokenizer

    features = data.features
    overrides = dict(config.overrides)
    if config.modalities:
        overrides["modalities"] = list(config.modalities)
    if pretrained is not None:
        from lgmcl_dgl.models.io import read_model_config

        base, _ = read_model_config(pretrained)
        overrides["fingerprint_dim"] = features.fingerprint_dim  # the fingerprint network is not pretrained
        model_config = type(base).from_dict(_apply(base.to_dict(), overrides))
        has_text = (pretrained / TOKENIZER_DIR).is_dir()  # not when pretrained on graph objectives only
        tokenizer = load_tokenizer(pretrained / TOKENIZER_DIR) if model_config.uses("text") and has_text else None
        if tokenizer is not None:
            model_config.text.vocab_size = len(tokenizer)
            model_config.text.pad_token_id = tokenizer.pad_token_id
        wanted = {"node_feat_dim": features.node_feat_dim, "edge_feat_dim": features.edge_feat_dim}
        got = {k: getattr(model_config, k) for k in wanted}
        if got != wanted:
            raise ArtifactError(f"{config.pretrained}: its encoders expect {got}, {data.source}'s features have {wanted}")
    else:
        overrides.update({"node_feat_dim": features.node_feat_dim, "edge_feat_dim": features.edge_feat_dim,
                          "fingerprint_dim": features.fingerprint_dim})
        model_config = load_preset(config.preset, overrides)
        tokenizer = None
    if model_config.uses("text"):
        data.descriptions = _descriptions(data, config)
        if tokenizer is None:
            tokenizer_dir = run / TOKENIZER_DIR
            if not (tokenizer_dir / "tokenizer_config.json").is_file():
                train_tokenizer(list(data.table.smiles) + data.descriptions, tokenizer_dir,
                                model_config.text.vocab_size, model_config.text.max_length)
            tokenizer = load_tokenizer(tokenizer_dir)  # as a resumed run has it: the models save the same files
            model_config.text.vocab_size = len(tokenizer)
            model_config.text.pad_token_id = tokenizer.pad_token_id
        data.smiles_ids = tokenize(tokenizer, data.table.smiles, model_config.text.max_length)
        data.desc_ids = tokenize(tokenizer, data.descriptions, model_config.text.max_length)
    _pin_model_config(run, model_config)
    return model_config, tokenizer, pretrained


def _pin_model_config(run: Path, model_config) -> None:
    """The first model config of a run is kept: a resumed run must build the same model (not a newer preset's)."""
    path = run / MODEL_CONFIG
    built = json.loads(json.dumps(model_config.to_dict()))
    if path.is_file():
        pinned = json.loads(path.read_text())
        changed = sorted(k for k in set(pinned) | set(built) if pinned.get(k) != built.get(k))
        if changed:
            raise ArtifactError(f"{run}: was started with another model config (changed: {', '.join(changed)}; "
                                f"was the package upgraded?); finish it with the version that started it, or --overwrite")
    else:
        atomic_write_json(path, built)


def _apply(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    from lgmcl_dgl.models.config import apply_overrides

    return apply_overrides(data, overrides)


# ------------------------------------------------------------------------------------- one seed

def _split(data: _Data, config: FinetuneConfig, seed: int) -> Split:
    split = make_split(data.table, config.split, config.split_sizes, seed, config.split_file).without(data.merged)
    if not len(split.train):
        raise InputError(f"{data.source}: the split leaves no training molecules")
    return split


def _monitor(data: _Data, split: Split, metric: str) -> tuple[str | None, str]:
    """The validation key early stopping watches: the task metric if the validation part can give it."""
    if not len(split.val):
        return None, "max"
    if data.task_type == "classification":
        labels = data.table.labels[split.val]
        scorable = [j for j in range(labels.shape[1]) if np.unique(labels[~np.isnan(labels[:, j]), j]).size == 2]
        if not scorable:
            log.warning("no task has both classes in the validation part; early stopping watches the validation loss")
            return "val_loss", "min"
    return f"val_{metric}", "max" if HIGHER_IS_BETTER[metric] else "min"


def _train_seed(data: _Data, run: Path, config: FinetuneConfig, seed: int, model_config, tokenizer,
                pretrained_weights: Path | None) -> None:
    from lgmcl_dgl.models.io import save_model
    from lgmcl_dgl.models.lgmcl import LGMCL
    from lgmcl_dgl.train.loop import ParamGroup, TrainConfig, train
    from lgmcl_dgl.train.losses import masked_bce, masked_mse

    directory = seed_dir(run, seed)
    directory.mkdir(parents=True, exist_ok=True)
    split = _split(data, config, seed)
    split.save(directory / "split.json", data.table)
    task_type, task_names = data.task_type, data.table.task_names
    metric = PRIMARY_METRIC[task_type]
    stats = LabelStats.fit(data.table.labels[split.train]) if task_type == "regression" else LabelStats.identity(len(task_names))
    targets = stats.scale(data.table.labels) if task_type == "regression" else data.table.labels
    collator = Collator(tokenizer.pad_token_id if tokenizer is not None else 0)

    torch.manual_seed(seed)
    model = LGMCL(model_config, len(task_names))
    if pretrained_weights is not None:
        _load_encoders(model, pretrained_weights)
    if config.freeze_encoders:
        for name in ENCODERS:
            if getattr(model, name) is not None:
                getattr(model, name).requires_grad_(False)

    loss_fn = masked_bce if task_type == "classification" else masked_mse
    text_vectors = _frozen_text_vectors(model, data, config, collator.pad_id)
    train_set = _Inputs(data, split.train, targets, text_vectors)
    val_set = _Inputs(data, split.val, targets, text_vectors)

    def step(model, batch):
        outputs = forward(model, batch)
        return {"loss": loss_fn(outputs, batch.graphs.labels, batch.graphs.mask)}

    def evaluate(model) -> dict[str, float]:
        outputs = raw_outputs(model, val_set, collator, 256, next(model.parameters()).device, config.atom_budget)
        mask = ~np.isnan(targets[split.val])
        scaled = np.nan_to_num(targets[split.val])
        loss = loss_fn(torch.from_numpy(outputs), torch.from_numpy(scaled), torch.from_numpy(mask))
        scores = score(task_type, data.table.labels[split.val], to_original_units(outputs, task_type, stats), task_names)
        values = {"val_loss": float(loss)}
        values.update({f"val_{k}": float("nan") if v is None else float(v) for k, v in scores.items()
                       if k not in ("per_task", "skipped_tasks")})
        return values

    monitor, mode = _monitor(data, split, metric)
    encoders = ParamGroup([name for name in ENCODERS if getattr(model, name) is not None], config.encoder_lr_factor,
                          config.freeze_epochs)
    apart = encoders.lr_factor != 1.0 or encoders.frozen_epochs  # else one group, as runs before the recipe had
    train_config = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, atom_budget=config.atom_budget,
                               lr=config.lr,
                               weight_decay=config.weight_decay, schedule=config.schedule,
                               warmup_epochs=config.warmup_epochs,
                               param_groups=[encoders] if apart else [],
                               clip_norm=5.0, seed=seed,
                               device=config.device, monitor=monitor, mode=mode,
                               patience=config.patience if monitor else None, resume=True, keep_last=2,
                               checkpoint_every=10**9, progress=config.progress, tensorboard=False,
                               label=f"seed {seed}" if len(config.seeds) > 1 else "")
    started = time.monotonic()
    result = train(model, train_set, collator, step, directory / "training", train_config,
                   evaluate=evaluate if monitor else None, extra_state={"seed": seed})
    if result.stopped_because in ("interrupted", "time_limit"):
        raise FinetuneInterrupted(f"seed {seed} stopped ({result.stopped_because}) after epoch {result.epoch}; "
                                  f"its checkpoint is in {directory / 'training'}: continue with --resume")
    model = model.cpu()

    card = ModelCard(model_config=model_config.to_dict(), task_names=task_names, task_type=task_type,
                     label_stats=stats, featurizer=data.featurizer,
                     text={"backend": config.description_backend, "options": dict(config.description_options),
                           "max_length": model_config.text.max_length} if model_config.uses("text") else {},
                     seed=seed, extra={"pretrained": config.pretrained, "source": str(data.source)})
    saved = model_dir(run, seed)
    save_model(saved, model)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(saved / TOKENIZER_DIR))
    atomic_write_json(saved / MODEL_CARD, card.to_dict())

    seed_metrics = {"seed": seed, "task_type": task_type, "metric": metric}
    for part, positions in split.parts().items():
        if not len(positions):
            continue
        outputs = raw_outputs(model, _Inputs(data, positions, targets, text_vectors), collator,
                              atom_budget=config.atom_budget)
        predictions = to_original_units(outputs, task_type, stats)
        labels = data.table.labels[positions]
        _write_predictions(directory / f"predictions_{part}.csv", data.table, positions, predictions)
        seed_metrics[part] = score(task_type, labels, predictions, task_names)
        if part == "test":
            title = f"test, seed {seed}"
            if task_type == "classification":
                plots.roc_curves(labels, predictions, task_names, directory / "roc_test.png", title)
            else:
                plots.parity_plot(labels, predictions, task_names, directory / "parity_test.png", title)
    history = [_curve_row(row, metric) for row in result.history]
    atomic_write_text(directory / "curves.csv", pd.DataFrame(history).to_csv(index=False))
    if history:
        plots.training_curves(history, directory / "curves.png", metric)
    seed_metrics.update({"epochs": result.epoch, "stopped_because": result.stopped_because,
                         "best_epoch": (result.best_metrics or {}).get("epoch"), "monitor": monitor,
                         "train_seconds": result.train_seconds, "wall_seconds": time.monotonic() - started})
    atomic_write_json(directory / "metrics.json", seed_metrics)
    Manifest(kind=SEED_KIND, config=config.identity(), inputs={"input": data.source_sha256},
             counts={part: int(len(p)) for part, p in split.parts().items()},
             extra={"seed": seed, "metric": metric}).write(directory)
    shutil.rmtree(directory / "training" / "checkpoints", ignore_errors=True)  # the seed is done; keep the logs


@torch.no_grad()
def _frozen_text_vectors(model, data: _Data, config: FinetuneConfig, pad_id: int) -> np.ndarray | None:
    """(molecules, 2, d): what frozen text encoders give each molecule, computed once (evaluation mode,
    so without dropout) instead of at every step of every epoch; None when they train, or when the
    fusion attends over their token states (not the gated fusion)."""
    from lgmcl_dgl.evaluate.inference import _pad
    from lgmcl_dgl.train.distributed import resolve_device

    if not (config.freeze_encoders and model.text_encoder is not None and model.config.fusion == "gated"):
        return None
    device = resolve_device(config.device)
    model.to(device).eval()
    order = np.argsort([len(ids) for ids in data.desc_ids], kind="stable")  # similar lengths pad little
    vectors = np.zeros((len(order), 2, model.config.embed_dim), np.float32)
    for start in range(0, len(order), 256):
        chunk = order[start:start + 256]
        smiles = _pad([data.smiles_ids[i] for i in chunk], pad_id)
        descriptions = _pad([data.desc_ids[i] for i in chunk], pad_id)
        vectors[chunk] = model.text_vectors(*(t.to(device) for t in (*smiles, *descriptions))).float().cpu().numpy()
    model.train()
    return vectors


def _load_encoders(model, pretrained: Path) -> None:
    """Encoder weights from a pretrained model; the task head and fusion start fresh."""
    from safetensors.torch import load_file

    from lgmcl_dgl.models.io import WEIGHTS_FILE

    state = load_file(str(pretrained / WEIGHTS_FILE))
    own = model.state_dict()
    encoders = {k: v for k, v in state.items() if k.split(".")[0] in ENCODERS and k in own}
    misfits = [f"{k} {tuple(v.shape)} -> {tuple(own[k].shape)}" for k, v in encoders.items() if own[k].shape != v.shape]
    if misfits:
        raise ArtifactError(f"{pretrained}: encoder weights do not fit the model built from it and the overrides: "
                            + "; ".join(misfits[:3]))
    if not encoders:
        raise ArtifactError(f"{pretrained}: holds no weights for this model's encoders")
    model.load_state_dict(encoders, strict=False)
    log.info("loaded %d encoder tensors from %s", len(encoders), pretrained)


def _curve_row(row: dict[str, Any], metric: str) -> dict[str, Any]:
    keep = {"epoch": row["epoch"], "train_loss": row.get("loss"), "val_loss": row.get("val_loss"),
            "epoch_seconds": row.get("epoch_seconds")}
    keep.update({k: v for k, v in row.items() if k.startswith("val_") and k != "val_loss"})
    return keep


def _write_predictions(path: Path, table: MoleculeTable, positions: np.ndarray, predictions: np.ndarray) -> None:
    frame = labelled_predictions(table.rows[positions], [table.smiles[i] for i in positions], table.task_names,
                                 table.labels[positions], predictions)
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.6g"))


# ------------------------------------------------------------------------------------- summary

def _ensemble_score(data: _Data, run: Path, seeds: list[int], part: str) -> dict[str, Any] | None:
    """The scores of the seeds' mean prediction (probabilities for classification) on ``part``; None unless every
    seed has the same molecules there (a split file, or a split that does not vary with the seed)."""
    frames = [pd.read_csv(seed_dir(run, s) / f"predictions_{part}.csv") for s in seeds
              if (seed_dir(run, s) / f"predictions_{part}.csv").is_file()]
    if not frames or len(frames) < len(seeds) or any(not f["row"].equals(frames[0]["row"]) for f in frames):
        return None
    columns = [f"{name}_pred" for name in data.table.task_names]
    mean = np.mean([f[columns].to_numpy(dtype=float) for f in frames], axis=0)
    position_of = {int(r): i for i, r in enumerate(data.table.rows)}
    labels = data.table.labels[[position_of[int(r)] for r in frames[0]["row"]]]
    return score(data.task_type, labels, mean, data.table.task_names)


def _write_summary(data: _Data, run: Path, config: FinetuneConfig, model_config) -> Path:
    """metrics.json over the seeds of this run, then the manifest."""
    seeds = [s for s in config.seeds if s in finished_seeds(run)]
    per_seed = [json.loads((seed_dir(run, s) / "metrics.json").read_text()) for s in seeds]
    metric = PRIMARY_METRIC[data.task_type]
    summary: dict[str, Any] = {"metric": metric, "task_type": data.task_type, "seeds": seeds,
                               "task_names": data.table.task_names}
    for part in ("test", "val", "train"):
        summary[part] = summarize_seeds([m.get(part, {}).get(metric) for m in per_seed])
    others = ("pr_auc",) if data.task_type == "classification" else ("mae", "r2")
    summary["other_metrics"] = {name: {part: summarize_seeds([m.get(part, {}).get(name) for m in per_seed])
                                       for part in ("test", "val")} for name in others}
    summary["ensemble"] = {part: _ensemble_score(data, run, seeds, part) for part in ("test", "val", "train")}
    summary["skipped_tasks"] = {f"seed_{m['seed']}": {part: m[part]["skipped_tasks"] for part in PARTS if part in m}
                                for m in per_seed}
    atomic_write_json(run / "metrics.json", summary)
    Manifest(kind=RUN_KIND, config=config.identity(), inputs={"input": data.source_sha256},
             counts={"n_input": data.table.n_input, "n_valid": len(data.table),
                     "n_invalid": data.table.n_input - len(data.table), "seeds": len(seeds)},
             extra={"source": str(data.source), "encoding": config.encoding,
                    "smiles_column": data.features.manifest.extra.get("smiles_column", config.smiles_column),
                    "task_names": data.table.task_names, "task_type": data.task_type,
                    "metric": metric, "model": model_config.to_dict()}).write(run)
    return run
