"""The featurize step: SMILES -> graphs + fingerprints in shards, in parallel, resumable and cached.

Shard ``k`` always holds input positions ``[k * shard_size, (k + 1) * shard_size)``, whatever
``--jobs`` or ``--num-shards`` say, so a resumed, a sliced and a straight run write the same files.
A shard folder is written under a temporary name and renamed when complete; its ``shard.json``
records a key of the settings and input, so resuming skips exactly the shards that are done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from lgmcl_dgl.data.artifacts import (LOCK, MANIFEST, ArtifactError, Manifest, atomic_write_bytes, entries_besides_locks,
                                     exclusive, remove_leftover_temporaries, reported_as, sha256_file)
from lgmcl_dgl.data.load import (DEFAULT_ENCODING, LABEL_COLUMNS, ROWS, InputError, InvalidRow, parse_smiles, read_table,
                                 write_invalid_csv)
from lgmcl_dgl.featurize.dataset import (DISTANCES, MANIFEST_KIND, SHARD_META, SHARDS_DIR, SMILES_FILE, MoleculeRecord,
                                         read_shard_meta)
from lgmcl_dgl.featurize.distances import hop_distances
from lgmcl_dgl.featurize.fingerprints import (BIT_FINGERPRINTS, ERG_SETTINGS, FINGERPRINT_SIZES,
                                              check_fingerprint_names, compute_fingerprints, fingerprint_layout)
from lgmcl_dgl.featurize.graphs import ATOM_FEATURIZERS, feature_dims, mol_graph_arrays

logger = logging.getLogger(__name__)
INVALID_CSV = "invalid.csv"
SHARD_FORMAT = 2  # 2: shards hold each molecule's hop distances; outputs of format 1 are recomputed, not reused


@dataclass
class FeaturizeConfig:
    """Settings of the featurize step. Only ``settings()`` decides the output; the rest says how to run."""

    smiles_column: str | None = None
    target_columns: list[str] | None = None
    atom_featurizer: str = "attentivefp"
    fingerprints: tuple[str, ...] = ("maccs", "pubchem", "erg")
    shard_size: int = 1000
    jobs: int | None = None  # worker processes; None = every core this process may use
    shard_index: int | None = None  # featurize only shards k with k % num_shards == shard_index
    num_shards: int | None = None
    merge: bool = False  # only join the shards that slices wrote; fail if any is missing
    force: bool = False  # ignore the cache and finished shards
    progress: bool = True
    encoding: str = DEFAULT_ENCODING  # of the input file; not a setting: SMILES and labels are ASCII either way

    def __post_init__(self) -> None:
        self.fingerprints = check_fingerprint_names(tuple(self.fingerprints))
        if self.atom_featurizer not in ATOM_FEATURIZERS:
            raise ValueError(f"unknown atom featurizer {self.atom_featurizer!r}; choose one of {', '.join(ATOM_FEATURIZERS)}")
        if self.shard_size < 1:
            raise ValueError(f"shard size must be at least 1, got {self.shard_size}")
        if (self.shard_index is None) != (self.num_shards is None):
            raise ValueError("give --shard-index and --num-shards together")
        if self.num_shards is not None and not 0 <= self.shard_index < self.num_shards:
            raise ValueError(f"shard index {self.shard_index} is not in 0..{self.num_shards - 1}")
        if self.merge and (self.num_shards is not None or self.force):
            raise ValueError("--merge joins the slices' shards; run it without --shard-index/--num-shards/--force")

    def settings(self) -> dict:
        """What the output depends on (the cache key, with the input's sha256)."""
        settings = {"smiles_column": self.smiles_column, "target_columns": self.target_columns,
                    "atom_featurizer": self.atom_featurizer, "fingerprints": list(self.fingerprints),
                    "erg": dict(ERG_SETTINGS), "pubchem_explicit_h": True, "shard_size": self.shard_size, "rows": ROWS,
                    "shard_format": SHARD_FORMAT}
        if self.target_columns is None:  # the label columns are guessed: an older guess's output is not reused
            settings["label_columns"] = LABEL_COLUMNS
        return settings


# ---------------------------------------------------------------- one molecule / a list in memory

def featurize_molecule(smiles: str, row: int, labels: np.ndarray, atom_featurizer: str,
                       fingerprints: tuple[str, ...]) -> MoleculeRecord | InvalidRow:
    """Featurize one SMILES, or say why not; never raises for a bad molecule."""
    from rdkit import Chem

    mol, problem = parse_smiles(smiles)  # the default parse (stereo perceived, H removed), as dgllife's
    if mol is None:
        return InvalidRow(row, smiles, problem)
    try:
        node_feats, bonds, bond_feats = mol_graph_arrays(mol, atom_featurizer)
        values = compute_fingerprints(mol, fingerprints)
        canonical = Chem.MolToSmiles(mol)
    except Exception as exc:  # RDKit and featurizers raise many types; the row must be reported, not crash the run
        return InvalidRow(row, smiles, f"featurization failed: {type(exc).__name__}: {exc}")
    vector = np.concatenate([values[name].astype(np.float32) for name in fingerprints])
    return MoleculeRecord(row, canonical, node_feats, bonds, bond_feats, vector, labels, hop_distances(len(node_feats), bonds))


def featurize_smiles(smiles: Sequence[str], config: FeaturizeConfig | None = None, *,
                     rows: Sequence[int] | None = None, labels: np.ndarray | None = None
                     ) -> list[MoleculeRecord | InvalidRow]:
    """Featurize SMILES in memory (e.g. new molecules for ``predict``), one result per input in order.

    ``rows`` default to 0..n-1; ``labels`` (n, T) default to no tasks. Pass the results that are
    ``MoleculeRecord`` to ``collate``; the ``InvalidRow`` ones say why a molecule was left out.
    """
    config = config or FeaturizeConfig()
    rows = np.arange(len(smiles)) if rows is None else np.asarray(rows, dtype=np.int64)
    labels = np.zeros((len(smiles), 0), np.float32) if labels is None else np.asarray(labels, dtype=np.float32)
    return [featurize_molecule(s, int(r), y, config.atom_featurizer, config.fingerprints)
            for s, r, y in zip(smiles, rows, labels)]


# ---------------------------------------------------------------- shards on disk

@dataclass
class _ShardTask:
    folder: Path
    index: int
    start: int
    smiles: list[str]
    rows: np.ndarray
    labels: np.ndarray
    config: FeaturizeConfig
    key: str
    dims: tuple[int, int]  # (node, edge) feature sizes, for shards without a valid molecule


def _shard_name(index: int) -> str:
    return f"shard-{index:06d}"


def _save_npy(folder: Path, name: str, array: np.ndarray) -> None:
    with reported_as(folder / f"{name}.npy"), open(folder / f"{name}.npy", "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _run_shard(task: _ShardTask) -> dict:
    """Featurize one shard and publish it by renaming its finished temporary folder."""
    results = featurize_smiles(task.smiles, task.config, rows=task.rows, labels=task.labels)
    records = [r for r in results if isinstance(r, MoleculeRecord)]
    invalid = [[r.row, r.smiles, r.reason] for r in results if isinstance(r, InvalidRow)]
    node_dim, edge_dim = task.dims
    tmp = task.folder.parent / f".{task.folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_npy(tmp, "rows", np.array([r.row for r in records], dtype=np.int64))
    _save_npy(tmp, "labels", np.stack([r.labels for r in records]) if records
              else np.zeros((0, task.labels.shape[1]), np.float32))
    _save_npy(tmp, "node_feats", np.concatenate([r.node_feats for r in records]) if records else np.zeros((0, node_dim), np.float32))
    _save_npy(tmp, "atom_offsets", np.concatenate([[0], np.cumsum([len(r.node_feats) for r in records])]).astype(np.int64))
    _save_npy(tmp, "bonds", np.concatenate([r.bonds for r in records]).astype(np.int32) if records else np.zeros((0, 2), np.int32))
    _save_npy(tmp, "bond_feats", np.concatenate([r.bond_feats for r in records]) if records else np.zeros((0, edge_dim), np.float32))
    _save_npy(tmp, "bond_offsets", np.concatenate([[0], np.cumsum([len(r.bonds) for r in records])]).astype(np.int64))
    _save_npy(tmp, DISTANCES, np.concatenate([r.distances.reshape(-1) for r in records]) if records else np.zeros(0, np.uint8))
    fingerprints = np.stack([r.fingerprints for r in records]) if records else np.zeros((0, 0), np.float32)
    for name, (begin, end) in fingerprint_layout(task.config.fingerprints).items():
        block = fingerprints[:, begin:end] if records else np.zeros((0, FINGERPRINT_SIZES[name]), np.float32)
        _save_npy(tmp, name, np.packbits(block.astype(np.uint8), axis=1) if name in BIT_FINGERPRINTS else block)
    atomic_write_bytes(tmp / SMILES_FILE, "".join(f"{r.smiles}\n" for r in records).encode("utf-8"))
    meta = {"index": task.index, "start": task.start, "stop": task.start + len(task.smiles), "key": task.key,
            "n_valid": len(records), "n_invalid": len(invalid), "invalid": invalid}
    atomic_write_bytes(tmp / SHARD_META, json.dumps(meta).encode("utf-8"))
    shutil.rmtree(task.folder, ignore_errors=True)  # a stale shard from other settings
    os.replace(tmp, task.folder)
    return meta


def _run_tasks(tasks: list[_ShardTask], jobs: int, progress: bool) -> Iterator[dict]:
    total = sum(len(t.smiles) for t in tasks)
    with tqdm(total=total, unit="mol", desc="featurize", disable=None if progress else True) as bar:
        if jobs <= 1 or len(tasks) <= 1:
            for task in tasks:
                meta = _run_shard(task)
                bar.update(meta["stop"] - meta["start"])
                yield meta
            return
        with multiprocessing.get_context("fork").Pool(min(jobs, len(tasks))) as pool:
            for meta in pool.imap_unordered(_run_shard, tasks):
                bar.update(meta["stop"] - meta["start"])
                yield meta


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _settings_key(settings: dict, inputs: dict) -> str:
    return hashlib.sha256(json.dumps([settings, inputs], sort_keys=True).encode()).hexdigest()[:16]


def featurize(source: str | Path, out_dir: str | Path, config: FeaturizeConfig | None = None) -> Path:
    """Featurize every row of ``source`` (registry name, CSV or SMILES file) into ``out_dir``.

    Returns ``out_dir``. Reruns with the same input and settings return at once (cache hit);
    interrupted runs continue from their finished shards.
    """
    config = config or FeaturizeConfig()
    out = Path(out_dir)
    table = read_table(source, config.smiles_column, config.target_columns, encoding=config.encoding)
    settings = config.settings()
    inputs = {"input": sha256_file(table.source)}
    if entries_besides_locks(out) and not ((out / MANIFEST).is_file() or (out / SHARDS_DIR).is_dir()):
        raise ArtifactError(f"{out}: exists and is not a featurize directory; choose another output")
    # slices of one output run side by side by design (they write disjoint shards), so each holds its own lock
    lock = LOCK if config.num_shards is None else f"{LOCK}-slice-{config.shard_index}-of-{config.num_shards}"
    with exclusive(out / lock):
        return _featurize_into(out, table, settings, inputs, config)


def _featurize_into(out: Path, table, settings: dict, inputs: dict, config: FeaturizeConfig) -> Path:
    manifest_path = out / MANIFEST
    if manifest_path.is_file() and not config.force:
        try:
            if Manifest.read(out, kind=MANIFEST_KIND).matches(settings, inputs):
                logger.info("%s: up to date (same input and settings), nothing to do", out)
                return out
        except (ArtifactError, TypeError, json.JSONDecodeError):
            pass
    manifest_path.unlink(missing_ok=True)  # from here on the directory is incomplete until the new manifest
    if config.num_shards is None:  # the top level is this job's alone (slices share OUT, each its own shards)
        remove_leftover_temporaries(out, recursive=False)
    shards_dir = out / SHARDS_DIR
    shards_dir.mkdir(parents=True, exist_ok=True)

    key = _settings_key(settings, inputs)
    n = len(table.smiles)
    plan = [(k, k * config.shard_size, min(n, (k + 1) * config.shard_size)) for k in range(math.ceil(n / config.shard_size))]
    done = set() if config.force else {  # --force redoes this run's shards only, never another slice's
        k for k, _, _ in plan if (meta := read_shard_meta(shards_dir / _shard_name(k))) and meta.get("key") == key}
    if config.merge:
        missing = [_shard_name(k) for k, _, _ in plan if k not in done]
        if missing:
            raise ArtifactError(f"{out}: cannot merge, {len(missing)} of {len(plan)} shards are not finished "
                                f"(first: {', '.join(missing[:5])}); run the slices that write them")
    mine = [p for p in plan if config.num_shards is None or p[0] % config.num_shards == config.shard_index]
    dims = feature_dims(config.atom_featurizer)
    tasks = [_ShardTask(shards_dir / _shard_name(k), k, start, table.smiles[start:stop], table.rows[start:stop],
                        table.labels[start:stop], config, key, dims) for k, start, stop in mine if k not in done]
    if len(mine) - len(tasks):
        logger.info("%s: %d of %d shards already done, resuming", out, len(mine) - len(tasks), len(mine))
    for _ in _run_tasks(tasks, config.jobs or default_jobs(), config.progress):
        pass
    if config.num_shards is not None:
        logger.info("%s: slice %d of %d written; join the slices with --merge", out, config.shard_index, config.num_shards)
        return out
    return _write_manifest(out, table, plan, settings, inputs, config, dims)


def _write_manifest(out: Path, table, plan, settings: dict, inputs: dict, config: FeaturizeConfig,
                    dims: tuple[int, int]) -> Path:
    """Check every shard, write invalid.csv, drop stale shards, then the manifest last."""
    shards_dir = out / SHARDS_DIR
    metas = [read_shard_meta(shards_dir / _shard_name(k)) for k, _, _ in plan]
    invalid = [InvalidRow(int(row), smiles, reason) for meta in metas for row, smiles, reason in meta["invalid"]]
    n_valid = sum(meta["n_valid"] for meta in metas)
    if n_valid + len(invalid) != table.n_input:
        raise ArtifactError(f"{out}: shards hold {n_valid + len(invalid)} rows, the input has {table.n_input}")
    write_invalid_csv(out / INVALID_CSV, invalid)
    if n_valid == 0:
        raise InputError(f"{table.source}: none of {table.n_input} rows holds a valid molecule "
                         f"(first problem: row {invalid[0].row}: {invalid[0].reason}); see {out / INVALID_CSV}")
    keep = {_shard_name(k) for k, _, _ in plan}
    for folder in shards_dir.iterdir():
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    fingerprint_dim = sum(FINGERPRINT_SIZES[f] for f in config.fingerprints)
    Manifest(kind=MANIFEST_KIND, config=settings, inputs=inputs,
             counts={"n_input": table.n_input, "n_valid": n_valid, "n_invalid": len(invalid), "n_shards": len(plan)},
             extra={"source": str(table.source), "smiles_column": table.smiles_column, "task_names": table.task_names,
                    "node_feat_dim": dims[0], "edge_feat_dim": dims[1], "fingerprint_dim": fingerprint_dim,
                    "fingerprints": list(config.fingerprints), "fingerprint_layout": fingerprint_layout(config.fingerprints),
                    "shards": sorted(keep)}).write(out)
    if invalid:
        logger.info("%s: %d of %d rows invalid, listed in %s", out, len(invalid), table.n_input, INVALID_CSV)
    return out
