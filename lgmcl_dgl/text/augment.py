"""The augment step: one description record (+ randomised SMILES) per input molecule, resumable.

Records go to ``descriptions.jsonl``, one line per molecule, appended and flushed as each molecule
finishes. A rerun with the same settings reads the lines already there (a torn last line from a
kill is cut off), skips those rows and continues; molecules that failed are tried again. At the
end the file is put in row order, then ``invalid.csv`` (unparsable SMILES), ``failed.csv``
(valid molecules no backend described) and ``manifest.json``, last.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdkit import Chem
from tqdm.auto import tqdm

from lgmcl_dgl.data.artifacts import (LOCK, MANIFEST, ArtifactError, Manifest, atomic_write_json, atomic_write_text,
                                      exclusive, remove_leftover_temporaries, reported_as, sha256_file)
from lgmcl_dgl.data.load import DEFAULT_ENCODING, ROWS, InputError, InvalidRow, parse_smiles, read_table, write_invalid_csv
from lgmcl_dgl.text.backends import BACKENDS, Outcome, Report, make_backend, with_fallback
from lgmcl_dgl.text.backends import rdkit as rdkit_backend
from lgmcl_dgl.text.describe import render
from lgmcl_dgl.text.smiles_views import randomised_smiles

KIND = "augment"
RECORDS = "descriptions.jsonl"
STATE = "augment_state.json"  # settings of an unfinished run, so a resume cannot mix settings
FAILED = "failed.csv"
INVALID = "invalid.csv"
SLICES = "shards"  # --num-shards runs write complete augment dirs here; --merge joins them into OUT
# options that change speed or where answers come from, not what they say: a resume may change them
# (an imported file's sha256 is among the inputs, so its path is not needed either)
_RUNTIME_OPTIONS = {"base_url", "api_key_env", "concurrency", "timeout", "max_retries", "backoff", "batch_size",
                    "device", "cache", "descriptions"}


@dataclass
class AugmentConfig:
    """Settings of one augment run. ``options`` go to the backend (see its config dataclass)."""

    backend: str = "rdkit"
    n_smiles: int = 0  # randomised SMILES views per molecule
    seed: int = 0
    jobs: int | None = None  # processes for parsing, views and the rdkit backend; None = every usable core
    smiles_column: str | None = None
    shard_index: int = 0
    num_shards: int = 1
    fallback: str | None = None  # "rdkit": describe molecules the backend failed on with the rdkit backend
    options: dict[str, Any] = field(default_factory=dict)
    merge: bool = False  # only join the slices of --num-shards runs into OUT; fail if any is unfinished
    overwrite: bool = False  # replace what OUT holds (LLM answers still come from the answer cache)
    progress: bool = True
    encoding: str = DEFAULT_ENCODING  # of the input file; not in the identity: SMILES are ASCII either way

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if not 0 <= self.shard_index < self.num_shards:
            raise ValueError(f"--shard-index must be in [0, {self.num_shards}), got {self.shard_index}")
        if self.n_smiles < 0 or (self.jobs is not None and self.jobs < 1):
            raise ValueError("--n-smiles must be >= 0 and --jobs >= 1")
        if self.fallback not in (None, "rdkit"):
            raise ValueError(f"unknown fallback {self.fallback!r}; the only fallback is 'rdkit'")
        self._backend_settings()  # bad backend options fail here, before any work

    def identity(self) -> dict[str, Any]:
        """The settings that change the records (not speed, progress, where the server or cache is)."""
        return {"backend": self.backend, "text_version": _text_version(self.backend), "n_smiles": self.n_smiles,
                "seed": self.seed, "smiles_column": self.smiles_column, "shard_index": self.shard_index,
                "num_shards": self.num_shards, "fallback": self.fallback, "options": self._backend_settings(), "rows": ROWS}

    def _backend_settings(self) -> dict[str, Any]:
        """Backend options with their defaults filled in, so the API and the CLI agree on a cache hit."""
        settings = dict(self.options)
        if self.backend in ("openai", "hf"):
            from lgmcl_dgl.text.backends.hf import HFConfig
            from lgmcl_dgl.text.backends.openai import OpenAIConfig

            config_class = OpenAIConfig if self.backend == "openai" else HFConfig
            unknown = set(self.options) - {f.name for f in fields(config_class)}
            if unknown:
                raise ValueError(f"--backend {self.backend} takes no option(s) {sorted(unknown)}")
            settings = asdict(config_class(**self.options))
        return {k: v for k, v in sorted(settings.items()) if k not in _RUNTIME_OPTIONS}


def _text_version(backend: str) -> str:
    """What else decides the text: the rdkit backend's version and RDKit's, or the LLM prompt's version."""
    from lgmcl_dgl.text.backends import PROMPT_VERSION

    if backend == "rdkit":
        return f"{rdkit_backend.PROMPT_VERSION}/{rdkit_backend.MODEL}"
    return PROMPT_VERSION if backend in ("openai", "hf") else "as-given"


@dataclass
class DescriptionRecord:
    row: int
    smiles: str
    description: str
    backend: str
    model: str
    prompt_version: str
    smiles_views: list[str]
    fallback: bool


@dataclass
class PreparedMolecule:
    """One input molecule, parsed once: canonical SMILES, views, prompt descriptors, rdkit description."""

    row: int
    smiles: str
    canonical: str = ""  # for LLM prompts, caches and views; empty only for an invalid row
    views: list[str] = field(default_factory=list)
    descriptors: dict[str, Any] = field(default_factory=dict)
    description: str | None = None  # filled when the rdkit backend runs in the preparation step
    invalid: str | None = None  # RDKit's reason when the SMILES does not parse


def prepare_molecule(row: int, smiles: str, *, with_rdkit: bool, n_views: int = 0, seed: int = 0) -> PreparedMolecule:
    mol, problem = parse_smiles(smiles)
    if mol is None:
        return PreparedMolecule(row, smiles, invalid=problem)
    canonical = Chem.MolToSmiles(mol)
    molecule = PreparedMolecule(row, smiles, canonical, randomised_smiles(mol, n_views, seed, row, canonical))
    if with_rdkit:
        molecule.description = render(rdkit_backend.describe_mol(mol, scratch=True))
    else:
        molecule.descriptors = rdkit_backend.prompt_descriptors(mol)
    return molecule


def rdkit_description(smiles: str) -> str:
    """The rdkit backend's text for one SMILES (used as the fallback of LLM backends)."""
    mol, problem = parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"{smiles!r}: {problem}")
    return render(rdkit_backend.describe_mol(mol, scratch=True))


_worker_settings: dict[str, Any] = {}


def _init_worker(settings: dict[str, Any], in_pool: bool = False) -> None:
    if in_pool:  # Ctrl-C goes to the parent, which stops the pool: no traceback from every worker
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_settings.update(settings)


def _prepare_task(item: tuple[int, str]) -> PreparedMolecule:
    return prepare_molecule(item[0], item[1], **_worker_settings)


def _prepared(todo: list[tuple[int, str]], config: AugmentConfig) -> Iterator[PreparedMolecule]:
    """Prepare molecules in input order, in ``config.jobs`` processes for the rdkit backend.

    LLM and import backends prepare in this process: their own threads must not meet a fork, and
    preparation costs nothing beside an LLM call.
    """
    settings = {"with_rdkit": config.backend == "rdkit", "n_views": config.n_smiles, "seed": config.seed}
    jobs = config.jobs or len(os.sched_getaffinity(0))
    if jobs == 1 or config.backend != "rdkit" or len(todo) < 64:
        _init_worker(settings)
        yield from map(_prepare_task, todo)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(jobs, initializer=_init_worker, initargs=(settings, True)) as pool:
        yield from pool.imap(_prepare_task, todo, chunksize=32)


def _read_input(source: str | Path, config: AugmentConfig) -> tuple[list[int], list[str], Path]:
    """Rows, SMILES and the file that identifies the input (hashed into the manifest)."""
    path = Path(source)
    if path.is_dir() and (path / MANIFEST).is_file():
        from lgmcl_dgl.featurize.dataset import FeaturizedDataset  # a featurize output dir

        dataset = FeaturizedDataset(path)
        return [int(r) for r in dataset.rows], list(dataset.smiles), path / MANIFEST
    table = read_table(source, config.smiles_column, target_columns=[], encoding=config.encoding)
    return [int(r) for r in table.rows], table.smiles, table.source


def _slice_dir(out: Path, index: int, num_shards: int) -> Path:
    return out / SLICES / f"{index:05d}-of-{num_shards:05d}"


def _shard(n: int, config: AugmentConfig) -> np.ndarray:
    """Positions of this shard: contiguous blocks, so shard outputs concatenate in row order."""
    return np.array_split(np.arange(n), config.num_shards)[config.shard_index]


def read_records(path: Path, *, repair: bool = False, rows_only: bool = False) -> dict[int, dict[str, Any] | None]:
    """Records of a JSONL file keyed by row. With ``repair``, a torn last line (a killed run) is cut off.

    ``rows_only`` keeps no record bodies (resuming a run of millions needs only which rows are done).
    """
    records: dict[int, dict[str, Any] | None] = {}
    if not path.is_file():
        return records
    good_end = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no newline")
                record = json.loads(line)
            except ValueError:
                if repair and handle.read(1) == b"":
                    break  # the last line was being written when the run stopped
                raise ArtifactError(f"{path}: line {number} is not a JSON record") from None
            records.setdefault(int(record["row"]), None if rows_only else record)
            good_end += len(line)
    if repair and good_end != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
    return records


def _start(out: Path, config: AugmentConfig, inputs: dict[str, str]) -> None:
    """Refuse to mix settings in one directory; clear it on ``overwrite``; note this run's settings."""
    identity = {"config": config.identity(), "inputs": inputs}
    previous = None
    if (out / MANIFEST).is_file():
        manifest = Manifest.read(out, KIND)
        previous = {"config": manifest.config, "inputs": manifest.inputs}
    elif (out / STATE).is_file():
        previous = json.loads((out / STATE).read_text())
    elif (out / RECORDS).is_file():
        previous = {}
    if previous is not None and (config.overwrite or previous != json.loads(json.dumps(identity))):
        if not config.overwrite:
            raise ArtifactError(f"{out}: holds augment records made from other inputs or settings; "
                                "use another output directory or --overwrite")
        for name in (RECORDS, STATE, FAILED, INVALID):
            (out / name).unlink(missing_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # from here on the directory is incomplete until the end
    atomic_write_json(out / STATE, identity)


def augment(source: str | Path, out_dir: str | Path, config: AugmentConfig | None = None) -> Path:
    """Describe every molecule of ``source`` (registry name, CSV, SMILES file or featurize dir) into ``out_dir``."""
    config = config or AugmentConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, smiles, identity_file = _read_input(source, config)
    inputs = {identity_file.name: sha256_file(identity_file)}
    if config.backend == "import":
        descriptions = Path(config.options.get("descriptions") or "")
        if not descriptions.is_file():
            raise InputError(f"--backend import needs --descriptions FILE; {str(descriptions)!r} is not a file")
        inputs[f"descriptions:{descriptions.name}"] = sha256_file(descriptions)
    if config.num_shards > 1 and not config.merge:
        out = _slice_dir(out, config.shard_index, config.num_shards)  # slices run side by side, each locks its own
    with exclusive(out / LOCK):
        if config.merge:
            return _merge(out, config, len(rows), inputs)
        if (out / MANIFEST).is_file():
            manifest = Manifest.read(out, KIND)
            if manifest.matches(config.identity(), inputs) and not manifest.counts.get("failed") and not config.overwrite:
                return out  # complete, same inputs and settings
        backend = None if config.backend == "rdkit" else make_backend(config.backend, **config.options)
        try:
            return _run(out, config, backend, rows, smiles, inputs)
        finally:
            if backend is not None:
                backend.close()


def _run(out: Path, config: AugmentConfig, backend, rows: list[int], smiles: list[str],
         inputs: dict[str, str]) -> Path:
    remove_leftover_temporaries(out, recursive=False)  # of a killed job; this one holds OUT/.lock (a slice: its own)
    _start(out, config, inputs)
    positions = _shard(len(rows), config)
    done = read_records(out / RECORDS, repair=True, rows_only=True)
    todo = [(rows[p], smiles[p]) for p in positions if rows[p] not in done]
    model = rdkit_backend.MODEL if backend is None else backend.model
    prompt_version = rdkit_backend.PROMPT_VERSION if backend is None else backend.prompt_version

    invalid: list[InvalidRow] = []
    failed: list[tuple[int, str, str]] = []
    report = Report()
    started = time.perf_counter()
    bar = tqdm(total=len(todo), unit="mol", desc=f"augment ({config.backend})", disable=not config.progress,
               smoothing=0.05)
    try:
        # reported_as: a full disk met by a write or by the close names no file
        with reported_as(out / RECORDS), open(out / RECORDS, "a", encoding="utf-8") as handle:
            for molecule, outcome in _outcomes(_prepared(todo, config), backend, invalid):
                outcome = with_fallback(molecule, outcome, config.fallback)
                report.add(outcome)
                if outcome.description is None:
                    failed.append((molecule.row, molecule.smiles, outcome.error or "unknown"))
                else:
                    record = DescriptionRecord(molecule.row, molecule.smiles, outcome.description, config.backend,
                                               model, prompt_version, molecule.views, outcome.fallback)
                    handle.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
                    handle.flush()
                bar.update(1)
                if report.failed or report.retried:
                    bar.set_postfix(failed=report.failed, retried=report.retried, refresh=False)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    invalid.sort(key=lambda r: r.row)
    n_records = _sort_records(out / RECORDS)
    write_invalid_csv(out / INVALID, invalid)
    failed_frame = pd.DataFrame(sorted(failed), columns=["row", "smiles", "reason"])
    atomic_write_text(out / FAILED, failed_frame.to_csv(index=False))
    counts = {"input": len(rows), "shard": len(positions), "described": n_records, "invalid": len(invalid),
              "failed": len(failed), "fallback": report.fallback, "resumed": len(done)}
    extra = {"model": model, "prompt_version": prompt_version, "report": report.as_dict(),
             "seconds": round(seconds, 3), "molecules_per_second": round(len(todo) / seconds, 1) if seconds else None,
             "summary": report.summary()}
    Manifest(KIND, config.identity(), inputs, counts, extra).write(out)
    (out / STATE).unlink(missing_ok=True)
    return out


def _outcomes(prepared: Iterable[PreparedMolecule], backend, invalid: list[InvalidRow]
              ) -> Iterator[tuple[PreparedMolecule, Outcome]]:
    """Route invalid molecules to ``invalid``; describe the rest (rdkit: already done while preparing)."""
    def valid() -> Iterator[PreparedMolecule]:
        for molecule in prepared:
            if molecule.invalid is not None:
                invalid.append(InvalidRow(molecule.row, molecule.smiles, molecule.invalid))
            else:
                yield molecule

    if backend is None:
        for molecule in valid():
            yield molecule, Outcome(molecule.description)
    else:
        yield from backend.run(valid())


def _sort_records(path: Path) -> int:
    """Rewrite the records in row order (LLM backends finish out of order); returns the record count."""
    offsets: list[tuple[int, int, int]] = []  # row, offset, length
    position = 0
    with open(path, "rb") as handle:
        for line in handle:
            offsets.append((json.loads(line)["row"], position, len(line)))
            position += len(line)
    rows = [o[0] for o in offsets]
    if len(set(rows)) != len(rows):
        raise ArtifactError(f"{path}: duplicate rows; rerun with --overwrite")
    if rows == sorted(rows):
        return len(rows)
    offsets.sort()
    tmp = path.with_name(f".{path.name}.sorting")
    with open(path, "rb") as source, open(tmp, "wb") as target:
        for _, offset, length in offsets:
            source.seek(offset)
            target.write(source.read(length))
        target.flush()
        os.fsync(target.fileno())
    os.replace(tmp, path)
    return len(rows)


def _merge(out: Path, config: AugmentConfig, n_input: int, inputs: dict[str, str]) -> Path:
    """Join the finished slices into OUT as if one unsharded run had written it (same manifest config)."""
    whole = replace(config, shard_index=0, num_shards=1, merge=False)
    if (out / MANIFEST).is_file() and Manifest.read(out, KIND).matches(whole.identity(), inputs):
        return out
    slices = [_slice_dir(out, i, config.num_shards) for i in range(config.num_shards)]
    manifests = []
    for index, folder in enumerate(slices):
        expected = replace(config, shard_index=index, merge=False).identity()
        if not (folder / MANIFEST).is_file():
            raise ArtifactError(f"{folder}: slice {index} of {config.num_shards} is not finished; run it with "
                                f"--shard-index {index} --num-shards {config.num_shards}, then --merge")
        manifest = Manifest.read(folder, KIND)
        if not manifest.matches(expected, inputs):
            raise ArtifactError(f"{folder}: slice {index} was made from other inputs or settings")
        manifests.append(manifest)
    _start(out, whole, inputs)
    tmp = out / f".{RECORDS}.merging"
    with open(tmp, "wb") as target:
        for folder in slices:
            with open(folder / RECORDS, "rb") as source:
                shutil.copyfileobj(source, target)
        target.flush()
        os.fsync(target.fileno())
    os.replace(tmp, out / RECORDS)
    for name in (INVALID, FAILED):
        frames = [pd.read_csv(folder / name, dtype={"smiles": str, "reason": str}, keep_default_na=False)
                  for folder in slices]
        atomic_write_text(out / name, pd.concat(frames).to_csv(index=False))
    counts = {k: sum(m.counts.get(k, 0) for m in manifests) for k in ("shard", "described", "invalid", "failed",
                                                                      "fallback", "resumed")}
    counts["input"] = n_input
    extra = {"model": manifests[0].extra["model"], "prompt_version": manifests[0].extra["prompt_version"],
             "slices": [m.extra.get("summary") for m in manifests],
             "summary": f"{counts['described']} described, {counts['failed']} failed, merged from "
                        f"{config.num_shards} slices"}
    Manifest(KIND, whole.identity(), inputs, counts, extra).write(out)
    (out / STATE).unlink(missing_ok=True)
    return out


def load_descriptions(path: str | Path) -> dict[int, DescriptionRecord]:
    """Records of a finished augment dir (or of its records file), keyed by row."""
    path = Path(path)
    if path.is_dir():
        if not (path / MANIFEST).is_file():
            unmerged = (path / SLICES).is_dir()
            hint = "; its slices are not merged (lgmcl augment ... --num-shards N --merge)" if unmerged else ""
            raise ArtifactError(f"{path}: not a finished augment directory (no {MANIFEST}){hint}")
        Manifest.read(path, KIND)
        path = path / RECORDS
    return {row: DescriptionRecord(**{k: record[k] for k in DescriptionRecord.__dataclass_fields__})
            for row, record in read_records(path).items()}
