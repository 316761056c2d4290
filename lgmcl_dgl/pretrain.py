"""The pretrain step: local-global graph, SMILES-description and graph-text contrast in one resumable run.

``pretrain(source, out_dir, config)`` featurises and describes a SMILES corpus when it is given raw
(reusing finished or half-finished outputs under ``OUT/data``; several files are first joined into
``OUT/data/corpus``), trains a tokenizer, then trains the
encoders with the shared loop. OUT ends as a model directory ``lgmcl finetune --pretrained OUT``
loads: ``model.safetensors`` + ``model_config.json``, ``tokenizer/``, the logs, and ``manifest.json``
written last. Killing it loses at most ``checkpoint_every`` steps; running the same command again
continues the run.
"""

from __future__ import annotations

import logging
import shutil
from contextlib import nullcontext
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lgmcl_dgl.data.artifacts import (LOCK, MANIFEST, ArtifactError, Manifest, atomic_write_json, entries_besides_locks,
                                     exclusive, remove_leftover_temporaries, reported_as, sha256_file,
                                     to_jsonable)
from lgmcl_dgl.data.corpus import CORPUS_FILE, join_sources
from lgmcl_dgl.data.load import DEFAULT_ENCODING
from lgmcl_dgl.pretrained import resolve_pretrained
from lgmcl_dgl.train import distributed
from lgmcl_dgl.train.batching import DEFAULT_ATOM_BUDGET, featurized_atom_counts
from lgmcl_dgl.train.logging import CURVE, EPOCH_LOG, STEP_LOG
from lgmcl_dgl.train.loop import CHECKPOINT_DIR, TrainConfig, train

__all__ = ["OBJECTIVES", "PretrainConfig", "pretrain", "resolve_pretrained", "retrieval_accuracy"]

log = logging.getLogger(__name__)

KIND = "pretrain"
OBJECTIVES = ("graph", "text", "cross")
CONFIG_FILE = "pretrain_config.json"
TOKENIZER_DIR = "tokenizer"
DATA_DIR = "data"


@dataclass
class PretrainConfig:
    """What to pretrain and how. ``train`` holds the loop's settings (steps, batch, schedule, checkpoints)."""

    preset: str = "small"  # model preset name or YAML file
    overrides: dict[str, Any] = field(default_factory=dict)  # model config keys, dotted allowed
    objectives: tuple[str, ...] = OBJECTIVES
    weights: dict[str, float] = field(default_factory=lambda: {name: 1.0 for name in OBJECTIVES})
    temperature: float = 0.1
    smiles_views: int = 0  # randomised SMILES per molecule (augment); the text objective samples one per epoch
    atom_featurizer: str = "attentivefp"
    smiles_column: str | None = None
    featurized: str | None = None  # an existing featurize directory of the input
    descriptions: str | None = None  # an existing augment directory of the input
    tokenizer_sample: int = 50_000  # molecules whose texts train the tokenizer
    jobs: int = 1  # processes for featurize / augment
    encoding: str = DEFAULT_ENCODING  # of the input file; not in the identity: SMILES are ASCII either way
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=64, lr=5e-4,
                                                                   weight_decay=1e-3, warmup_steps=200,
                                                                   checkpoint_every=200,
                                                                   atom_budget=DEFAULT_ATOM_BUDGET))

    def __post_init__(self) -> None:
        if isinstance(self.train, dict):
            self.train = TrainConfig(**self.train)
        self.objectives = tuple(self.objectives)
        unknown = set(self.objectives) - set(OBJECTIVES)
        if unknown or not self.objectives:
            raise ValueError(f"objectives must be some of {', '.join(OBJECTIVES)}, got {', '.join(self.objectives) or 'none'}")
        self.weights = {name: float(self.weights.get(name, 1.0)) for name in self.objectives}

    @property
    def uses_text(self) -> bool:
        return "text" in self.objectives or "cross" in self.objectives

    @property
    def uses_graph(self) -> bool:
        return "graph" in self.objectives or "cross" in self.objectives

    def trained_modalities(self, modalities: list[str]) -> list[str]:
        """The model's modalities less those no objective trains: a one-objective run saves only
        encoders it trained, so fine-tuning starts the others fresh instead of from random weights."""
        unused = ({"local", "global"} if not self.uses_graph else set()) | ({"text"} if not self.uses_text else set())
        return [m for m in modalities if m not in unused]

    def identity(self) -> dict[str, Any]:
        """Settings a run cannot change when it is continued (length and speed settings may change).

        Holds the resolved model config, so an edited preset file is noticed too.
        """
        from lgmcl_dgl.models.config import load_preset

        keep = {k: v for k, v in asdict(self).items() if k not in ("train", "jobs", "featurized", "descriptions",
                                                                  "encoding")}
        keep["model"] = load_preset(self.preset, self.overrides).to_dict()
        keep["train"] = {k: getattr(self.train, k) for k in ("batch_size", "atom_budget", "grad_accum", "lr",
                                                               "weight_decay", "optimizer", "warmup_steps", "schedule",
                                                               "seed")}
        return to_jsonable(keep)


def pretrain(source: str | Path | Sequence[str | Path], out_dir: str | Path, config: PretrainConfig | None = None) -> Path:
    """Pretrain on ``source`` (SMILES file, CSV, registry name or featurize directory, or a list of
    SMILES files / CSVs trained on as one corpus); returns ``out_dir``."""
    config = config or PretrainConfig()
    out = Path(out_dir)
    sources = [source] if isinstance(source, (str, Path)) else list(source)
    if not sources:
        raise ValueError("no input: give at least one SMILES file, CSV, dataset name or featurize directory")
    dist = distributed.init_distributed(config.train.device)
    # rank 0 writes OUT; it fails at once on a held lock (waiting would leave the other ranks at a barrier)
    with exclusive(out / LOCK, wait=False) if dist.is_main else nullcontext():
        return _pretrain(sources, out, config, dist)


def _pretrain(sources: list[str | Path], out: Path, config: PretrainConfig, dist) -> Path:
    source = sources[0] if len(sources) == 1 else out / DATA_DIR / "corpus" / CORPUS_FILE
    if dist.is_main:
        _claim(out, config)
        if len(sources) > 1:
            join_sources(sources, Path(source).parent, config.smiles_column)
        featurized, described = _prepare_inputs(source, out, config)
    distributed.barrier()
    if not dist.is_main:
        featurized, described = _input_dirs(source, out, config)

    from lgmcl_dgl.featurize.dataset import FeaturizedDataset
    from lgmcl_dgl.models.config import load_preset
    from lgmcl_dgl.models.lgmcl import LGMCL

    molecules = FeaturizedDataset(featurized)
    overrides = {**config.overrides, "node_feat_dim": molecules.node_feat_dim, "edge_feat_dim": molecules.edge_feat_dim}
    model_config = load_preset(config.preset, overrides)
    model_config.modalities = config.trained_modalities(model_config.modalities)
    texts = None
    if config.uses_text:
        if dist.is_main:
            _tokenized(out, molecules, described, model_config, config)  # builds the caches once
        distributed.barrier()
        texts, tokenizer = _tokenized(out, molecules, described, model_config, config)
        model_config.text.vocab_size = len(tokenizer)
        model_config.text.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(config.train.seed)
    model = LGMCL(model_config)
    dataset = PretrainDataset(molecules, texts, config.train.seed)
    result = train(model, dataset, dataset.collate, ContrastiveStep(config), out, config.train,
                   extra_state={"pretrain": config.identity()})
    if dist.is_main:
        _finish(out, model, sources, config, result, len(molecules))
    distributed.barrier()
    return out


# ---------------------------------------------------------------- the objective

class ContrastiveStep:
    """NT-Xent per objective: graph (local vs global), text (SMILES vs description), cross (graph vs text)."""

    def __init__(self, config: PretrainConfig):
        self.objectives, self.weights, self.temperature = config.objectives, config.weights, config.temperature

    def __call__(self, model, batch: "PretrainBatch") -> dict[str, torch.Tensor]:
        from lgmcl_dgl.train.losses import nt_xent

        text = batch.smiles_ids is not None
        views = model.pretrain_views(batch.graphs.graph,
                                     batch.smiles_ids if text else None, batch.smiles_mask if text else None,
                                     batch.desc_ids if text else None, batch.desc_mask if text else None)
        losses = {}
        if "graph" in self.objectives:
            losses["graph"] = nt_xent(views["local"], views["global"], self.temperature)
        if "text" in self.objectives:
            losses["text"] = nt_xent(views["smiles"], views["description"], self.temperature)
        if "cross" in self.objectives:
            losses["cross"] = nt_xent(graph_vector(views), text_vector(views), self.temperature)
        total = sum(self.weights[name] * value for name, value in losses.items())
        return {"loss": total, **{f"loss_{name}": value for name, value in losses.items()}}


def graph_vector(views: dict[str, torch.Tensor]) -> torch.Tensor:
    """One molecule vector from the graph side: the sum of the unit local and global views present."""
    return sum(F.normalize(views[k], dim=-1) for k in ("local", "global") if k in views)


def text_vector(views: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(F.normalize(views[k], dim=-1) for k in ("smiles", "description") if k in views)


# ---------------------------------------------------------------- data

@dataclass
class TokenArrays:
    """Token ids of every molecule in dataset order, padded (int32); views[:, 0] is the canonical SMILES."""

    smiles: np.ndarray  # (N, V + 1, Ls)
    descriptions: np.ndarray  # (N, Ld)
    pad_id: int


@dataclass
class PretrainBatch:
    graphs: Any  # featurize GraphBatch
    smiles_ids: torch.Tensor | None
    smiles_mask: torch.Tensor | None
    desc_ids: torch.Tensor | None
    desc_mask: torch.Tensor | None

    def to(self, device) -> "PretrainBatch":
        move = (lambda t: None if t is None else t.to(device))
        return PretrainBatch(self.graphs.to(device), move(self.smiles_ids), move(self.smiles_mask),
                             move(self.desc_ids), move(self.desc_mask))


class PretrainDataset(torch.utils.data.Dataset):
    """Molecule ``i``: its graph record and token rows; which SMILES view it shows depends on (seed, epoch, i)."""

    def __init__(self, molecules, texts: TokenArrays | None, seed: int = 0):
        self.molecules, self.texts, self.seed, self.epoch = molecules, texts, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.molecules)

    def atom_counts(self) -> np.ndarray:
        return featurized_atom_counts(self.molecules)

    def __getitem__(self, index: int):
        if self.texts is None:
            return self.molecules[index], None, None
        n_views = self.texts.smiles.shape[1]
        view = int(np.random.default_rng([self.seed, self.epoch, index]).integers(n_views)) if n_views > 1 else 0
        return self.molecules[index], self.texts.smiles[index, view], self.texts.descriptions[index]

    def collate(self, items) -> PretrainBatch:
        from lgmcl_dgl.featurize.dataset import collate

        graphs = collate([record for record, _, _ in items])
        if self.texts is None:
            return PretrainBatch(graphs, None, None, None, None)
        smiles_ids, smiles_mask = _pad([s for _, s, _ in items], self.texts.pad_id)
        desc_ids, desc_mask = _pad([d for _, _, d in items], self.texts.pad_id)
        return PretrainBatch(graphs, smiles_ids, smiles_mask, desc_ids, desc_mask)


def _pad(rows: list[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.from_numpy(np.stack(rows).astype(np.int64))
    mask = ids != pad_id
    width = max(int(mask.sum(1).max()), 1)
    return ids[:, :width].contiguous(), mask[:, :width].contiguous()


# ---------------------------------------------------------------- inputs and outputs

def _input_dirs(source: str | Path, out: Path, config: PretrainConfig) -> tuple[Path, Path | None]:
    source_path = Path(source)
    is_featurized = source_path.is_dir() and (source_path / MANIFEST).is_file()
    featurized = Path(config.featurized) if config.featurized else source_path if is_featurized else out / DATA_DIR / "featurize"
    described = None
    if config.uses_text:
        described = Path(config.descriptions) if config.descriptions else out / DATA_DIR / "augment"
    return featurized, described


def _prepare_inputs(source: str | Path, out: Path, config: PretrainConfig) -> tuple[Path, Path | None]:
    """Run featurize / augment unless given their outputs; both reuse finished work in their directories."""
    featurized, described = _input_dirs(source, out, config)
    if not (featurized / MANIFEST).is_file() or featurized == out / DATA_DIR / "featurize":
        from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize

        log.info("featurize %s -> %s", source, featurized)
        featurize(source, featurized, FeaturizeConfig(smiles_column=config.smiles_column,
                                                      atom_featurizer=config.atom_featurizer,
                                                      fingerprints=("maccs",), jobs=config.jobs,
                                                      progress=config.train.progress, encoding=config.encoding))
    if described is not None and (not (described / MANIFEST).is_file() or described == out / DATA_DIR / "augment"):
        from lgmcl_dgl.text.augment import AugmentConfig, augment

        log.info("augment (rdkit descriptions, %d SMILES views) -> %s", config.smiles_views, described)
        raw = featurized != Path(source)  # describe the raw input (rows are the same) so both steps can run apart
        augment(source if raw else featurized, described,
                AugmentConfig(backend="rdkit", n_smiles=config.smiles_views, seed=config.train.seed,
                              smiles_column=config.smiles_column, jobs=config.jobs, progress=config.train.progress,
                              encoding=config.encoding))
    return featurized, described


def _tokenized(out: Path, molecules, described: Path, model_config, config: PretrainConfig):
    """Tokenizer (trained once) and the token arrays of all molecules, cached under OUT/data/tokens."""
    from lgmcl_dgl.text.augment import load_descriptions
    from lgmcl_dgl.text.tokenizer import load_tokenizer, train_tokenizer

    tokens_dir = out / DATA_DIR / "tokens"
    tokenizer_dir = out / TOKENIZER_DIR
    inputs = {"featurize": sha256_file(molecules.path / MANIFEST), "augment": sha256_file(described / MANIFEST)}
    settings = {"max_length": model_config.text.max_length, "vocab_size": model_config.text.vocab_size,
                "tokenizer_sample": config.tokenizer_sample, "smiles_views": config.smiles_views}
    if (tokens_dir / MANIFEST).is_file() and Manifest.read(tokens_dir, "tokens").matches(settings, inputs):
        tokenizer = load_tokenizer(tokenizer_dir)
        arrays = np.load(tokens_dir / "smiles.npy", mmap_mode="r"), np.load(tokens_dir / "descriptions.npy", mmap_mode="r")
        return TokenArrays(arrays[0], arrays[1], tokenizer.pad_token_id), tokenizer

    records = load_descriptions(described)
    missing = [int(r) for r in molecules.rows if int(r) not in records]
    if missing:
        raise ArtifactError(f"{described}: no description for input row(s) {missing[:10]}"
                            f"{' ...' if len(missing) > 10 else ''}; rerun augment on this input")
    ordered = [records[int(r)] for r in molecules.rows]
    views = [[molecules.smiles[i], *ordered[i].smiles_views[:config.smiles_views]] for i in range(len(ordered))]
    short = [i for i, v in enumerate(views) if len(v) < config.smiles_views + 1]
    if short:
        raise ArtifactError(f"{described}: holds fewer than {config.smiles_views} SMILES views for row "
                            f"{int(molecules.rows[short[0]])}; rerun augment with --n-smiles {config.smiles_views}")
    if (tokenizer_dir / "tokenizer_config.json").is_file():
        tokenizer = load_tokenizer(tokenizer_dir)
    else:
        sample = np.random.default_rng(0).permutation(len(ordered))[:config.tokenizer_sample]
        corpus = [text for i in sample for text in (*views[i], ordered[i].description)]
        tokenizer = train_tokenizer(corpus, tokenizer_dir, model_config.text.vocab_size, model_config.text.max_length)
    length = model_config.text.max_length
    smiles = _encode(tokenizer, [s for v in views for s in v], length).reshape(len(views), len(views[0]), -1)
    descriptions = _encode(tokenizer, [r.description for r in ordered], length)
    tokens_dir.mkdir(parents=True, exist_ok=True)
    (tokens_dir / MANIFEST).unlink(missing_ok=True)
    for name, array in (("smiles.npy", smiles), ("descriptions.npy", descriptions)):
        with reported_as(tokens_dir / name):
            np.save(tokens_dir / name, array)
    Manifest("tokens", settings, inputs, counts={"molecules": len(views)}).write(tokens_dir)
    return TokenArrays(smiles, descriptions, tokenizer.pad_token_id), tokenizer


def _encode(tokenizer, texts: list[str], max_length: int, chunk: int = 4096) -> np.ndarray:
    """Token ids padded to the longest text (at most ``max_length``), int32."""
    parts = [tokenizer(texts[i:i + chunk], truncation=True, max_length=max_length)["input_ids"]
             for i in range(0, len(texts), chunk)]
    ids = [row for part in parts for row in part]
    out = np.full((len(ids), max(map(len, ids))), tokenizer.pad_token_id, dtype=np.int32)
    for i, row in enumerate(ids):
        out[i, :len(row)] = row
    return out


def _claim(out: Path, config: PretrainConfig) -> None:
    """A fresh OUT, or the same run continued; changing what is learned needs a new directory."""
    saved = out / CONFIG_FILE
    now = config.identity()
    if saved.is_file() and not config.train.resume:  # --restart: drop the run, keep featurize/augment outputs
        for name in (CHECKPOINT_DIR, TOKENIZER_DIR, f"{DATA_DIR}/tokens", "tensorboard"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in (STEP_LOG, EPOCH_LOG, CURVE, MANIFEST, "model.safetensors", "model_config.json", CONFIG_FILE):
            (out / name).unlink(missing_ok=True)
    if saved.is_file():
        import json

        before = json.loads(saved.read_text())
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            raise ArtifactError(f"{out}: holds a pretraining run with other settings ({', '.join(changed)}); "
                                "continue it with the same settings, or choose another output directory")
    elif any(p.name != DATA_DIR for p in entries_besides_locks(out)):
        raise ArtifactError(f"{out}: exists and is not a pretraining run; choose another output directory")
    out.mkdir(parents=True, exist_ok=True)
    remove_leftover_temporaries(out)  # of a killed run; this one holds OUT/.lock
    (out / MANIFEST).unlink(missing_ok=True)
    atomic_write_json(saved, now)


def _finish(out: Path, model, sources: list[str | Path], config: PretrainConfig, result, n_molecules: int) -> None:
    from lgmcl_dgl.models.io import save_model

    save_model(out, model.cpu())
    names = ["input"] if len(sources) == 1 else [f"input{i}" for i in range(len(sources))]
    inputs = {name: sha256_file(s) if Path(s).is_file() else str(s) for name, s in zip(names, sources)}
    Manifest(KIND, config.identity(), inputs,
             counts={"molecules": n_molecules, "steps": result.step, "molecules_seen": result.molecules_seen},
             extra={"stopped_because": result.stopped_because, "train_seconds": round(result.train_seconds, 1),
                    "epochs_completed": result.epoch, "final_losses": result.last_metrics,
                    "train": asdict(config.train)}).write(out)
    log.info("pretrained %d steps (%s) in %.0f s -> %s", result.step, result.stopped_because, result.train_seconds, out)


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def retrieval_accuracy(model, tokenizer, records, descriptions: list[str], batch_size: int = 250) -> dict[str, float]:
    """Graph -> text top-1 retrieval among the given molecules (chance = 1 / n).

    ``records`` are featurize ``MoleculeRecord``s, ``descriptions`` their texts in the same order.
    Returns top-1 / top-5 accuracies for graph -> description, graph -> SMILES and graph -> both (the
    cross objective's text vector), with chance levels.
    """
    from lgmcl_dgl.featurize.dataset import collate

    model.eval()
    length = model.config.text.max_length
    parts: dict[str, list[torch.Tensor]] = {"graph": [], "smiles": [], "description": [], "text": []}
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        smiles = tokenizer([r.smiles for r in chunk], truncation=True, max_length=length, padding=True, return_tensors="pt")
        desc = tokenizer(descriptions[start:start + batch_size], truncation=True, max_length=length, padding=True,
                         return_tensors="pt")
        views = model.pretrain_views(collate(chunk).graph, smiles["input_ids"], smiles["attention_mask"],
                                     desc["input_ids"], desc["attention_mask"])
        parts["graph"].append(graph_vector(views))
        parts["smiles"].append(views["smiles"])
        parts["description"].append(views["description"])
        parts["text"].append(text_vector(views))
    vectors = {k: F.normalize(torch.cat(v), dim=-1) for k, v in parts.items()}
    target = torch.arange(len(records))[:, None]
    scores = {"n": len(records), "chance_top1": 1 / len(records), "chance_top5": min(1.0, 5 / len(records))}
    for kind in ("description", "smiles", "text"):
        ranked = (vectors["graph"] @ vectors[kind].T).topk(min(5, len(records)), dim=1).indices
        scores[f"graph_to_{kind}_top1"] = round(float((ranked[:, :1] == target).any(1).float().mean()), 4)
        scores[f"graph_to_{kind}_top5"] = round(float((ranked == target).any(1).float().mean()), 4)
    return scores
