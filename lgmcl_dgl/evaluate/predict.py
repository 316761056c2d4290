"""Apply a fine-tuned RUN to new molecules: one output row per input row, in input order, beside the
input's other columns (IDs, names), so every prediction can be joined back to what it is about.

Input is read and written in chunks, so memory stays bounded however large the file. Each
chunk's valid molecules are featurised and described in memory with the settings the models
were trained on, scored by every seed's model, and written as the seed-ensemble mean (and std
with several seeds); rows that cannot be used keep their place with the reason in ``error``.
Featurising and describing cost more CPU than the model, so worker processes prepare the next
chunks while this process scores the current one; a few chunks at most are in flight.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lgmcl_dgl.data.artifacts import ArtifactError, reported_as, temporary_beside
from lgmcl_dgl.data.load import (CSV_OPTIONS, DEFAULT_ENCODING, SMILES_FILE_SUFFIXES, InputError, _guess_smiles_column,
                                 resolve_source, undecodable)
from lgmcl_dgl.evaluate import domain as applicability
from lgmcl_dgl.evaluate.run_dir import TOKENIZER_DIR, model_dir, read_card, run_seeds, smiles_column_for
from lgmcl_dgl.train.batching import DEFAULT_ATOM_BUDGET


@dataclass
class PredictConfig:
    batch_size: int = 256  # molecules per forward pass
    chunk_size: int = 1024  # rows read, featurised and written at a time: bounds memory; the unit workers overlap
    device: str = "cpu"
    smiles_column: str | None = None  # None: the run's SMILES column when the input has it, else guessed
    encoding: str = DEFAULT_ENCODING  # of the input file
    jobs: int | None = None  # processes preparing chunks beside the model; None = every core, 0 = none
    precision: str = "float32"  # "bfloat16": the text encoder in bf16 (faster on CPUs with AVX512-BF16/AMX)
    threads: int | None = None  # torch threads scoring; None = 1 beside workers (more would only spin), else torch's
    atom_budget: int = DEFAULT_ATOM_BUDGET  # padded atom slots per forward pass, similar sizes together; 0: input order

    def __post_init__(self) -> None:
        if self.atom_budget < 0:
            raise ValueError(f"atom_budget must be >= 0 (0: batches in input order), got {self.atom_budget}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


PRECISIONS = ("float32", "bfloat16")


def iter_smiles_chunks(source: str | Path, smiles_column: str | None = None, chunk_size: int = 4096,
                       encoding: str = DEFAULT_ENCODING) -> Iterator[tuple[np.ndarray, list[str], pd.DataFrame]]:
    """(data rows, SMILES, the other columns) of a CSV, SMILES file or registry name, ``chunk_size`` rows at a time."""
    path, spec = resolve_source(source)
    if path.suffix.lower() in SMILES_FILE_SUFFIXES:
        yield from _smiles_file_chunks(path, chunk_size, encoding)
        return
    try:
        reader = pd.read_csv(path, **CSV_OPTIONS, chunksize=chunk_size, encoding=encoding)
        start = 0
        for frame in reader:
            frame.columns = [str(c).strip() for c in frame.columns]
            if start == 0:
                smiles_column = smiles_column or (spec.smiles_column if spec else None) or _guess_smiles_column(path, frame)
                if smiles_column not in frame.columns:
                    raise InputError(f"{path}: no column {smiles_column!r}; columns are {list(frame.columns)}")
            others = frame.drop(columns=[smiles_column]).reset_index(drop=True)
            yield np.arange(start, start + len(frame)), [s.strip() for s in frame[smiles_column].tolist()], others
            start += len(frame)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file, no header and no rows") from None
    except UnicodeDecodeError:
        raise undecodable(path, encoding, header=True) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a readable CSV: {exc}") from None


def _smiles_file_chunks(path: Path, chunk_size: int,
                        encoding: str) -> Iterator[tuple[np.ndarray, list[str], pd.DataFrame]]:
    rows, smiles = [], []
    try:
        with open(path, encoding=encoding) as handle:
            for row, line in enumerate(handle):
                line = line.strip()
                rows.append(row)
                smiles.append(line.split()[0] if line else "")
                if len(smiles) == chunk_size:
                    yield np.asarray(rows), smiles, pd.DataFrame(index=range(len(rows)))
                    rows, smiles = [], []
    except UnicodeDecodeError:
        raise undecodable(path, encoding, header=False) from None
    if smiles:
        yield np.asarray(rows), smiles, pd.DataFrame(index=range(len(rows)))


def prediction_columns(task_names: list[str], n_seeds: int, kept: list[str] = ()) -> list[str]:
    """row, smiles, the input's other columns (``kept``, already renamed by ``kept_names``), predictions,
    applicability domain (evaluate/domain.py), error."""
    columns = ["row", "smiles", *kept]
    for name in task_names:
        columns += [name, f"{name}_std"] if n_seeds > 1 else [name]
    return columns + [*applicability.COLUMNS, "error"]


def kept_names(input_columns: list[str], task_names: list[str], n_seeds: int) -> dict[str, str]:
    """Input column -> its output name: its own, or ``input_<name>`` where that is taken by an output column
    (say the labels of a task the run predicts)."""
    taken = set(prediction_columns(task_names, n_seeds))
    names = {}
    for column in input_columns:
        name = column
        while name in taken:
            name = f"input_{name}"
        taken.add(name)
        names[column] = name
    return names


def chunk_frame(rows: np.ndarray, smiles: list[str], errors: list[str], valid: list[int],
                per_seed: np.ndarray, task_names: list[str], kept: pd.DataFrame | None = None,
                domain: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Rows of one chunk: ``per_seed`` is (seeds, len(valid), tasks) in original units; ``kept`` the input's
    other columns under their output names; ``domain`` the valid rows' applicability-domain columns."""
    n_seeds = per_seed.shape[0]
    mean = np.full((len(smiles), len(task_names)), np.nan, np.float32)
    std = np.full_like(mean, np.nan)
    if valid:
        mean[valid] = per_seed.mean(axis=0)
        std[valid] = per_seed.std(axis=0)
    columns = {"row": rows, "smiles": smiles}
    if kept is not None:
        columns.update({name: kept[name].to_numpy() for name in kept.columns})
    for j, name in enumerate(task_names):
        columns[name] = mean[:, j]
        if n_seeds > 1:
            columns[f"{name}_std"] = std[:, j]
    for name, values in (domain or {}).items():
        empty = (np.nan, np.float32) if values.dtype.kind == "f" else ("", object)  # invalid rows: empty cells
        column = np.full(len(smiles), *empty)
        column[valid] = values
        columns[name] = column
    columns["error"] = errors
    return pd.DataFrame(columns)


def labelled_predictions(rows: np.ndarray, smiles: list[str], task_names: list[str], labels: np.ndarray,
                         predictions: np.ndarray) -> pd.DataFrame:
    """Each task's label beside its prediction, built at once: column by column, ToxCast's 617 tasks
    fragment the frame (pandas warns on every write)."""
    columns = {"row": rows, "smiles": smiles}
    for j, name in enumerate(task_names):
        columns[name] = labels[:, j]
        columns[f"{name}_pred"] = predictions[:, j]
    return pd.DataFrame(columns)


class _AtomicCsv:
    """Appends chunks to a temporary file beside ``path``; renamed into place only when complete."""

    def __init__(self, path: str | Path, columns: list[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = temporary_beside(self.path)
        self.handle = os.fdopen(fd, "w", newline="", encoding="utf-8")
        csv.writer(self.handle).writerow(columns)

    def write(self, frame: pd.DataFrame) -> None:
        with reported_as(self.path, self.tmp):  # a full disk names no file
            frame.to_csv(self.handle, header=False, index=False, float_format="%.6g")

    def close(self, ok: bool) -> None:
        """Publish the file when ``ok``; otherwise, or when finishing it fails (a full disk), remove it."""
        try:
            if ok:
                with reported_as(self.path, self.tmp):
                    self.handle.flush()
                    os.fsync(self.handle.fileno())
                    self.handle.close()
                    os.replace(self.tmp, self.path)
        finally:
            if not self.handle.closed:
                with contextlib.suppress(OSError):  # the error that stopped the run is the one to report
                    self.handle.close()
            Path(self.tmp).unlink(missing_ok=True)  # already renamed when all went well


class Ensemble:
    """Every finished seed's model of a RUN, with the settings its inputs must be made with."""

    def __init__(self, run: str | Path, device: str = "cpu", precision: str = "float32") -> None:
        from lgmcl_dgl.models.io import load_model
        from lgmcl_dgl.text.tokenizer import load_tokenizer

        self.run = Path(run)
        self.seeds = run_seeds(self.run)
        self.device = resolve_device(device)
        self.cards, self.models, self.tokenizers = [], [], []
        for seed in self.seeds:
            directory = model_dir(self.run, seed)
            card = read_card(directory)
            self.cards.append(card)
            model = load_model(directory, map_location=self.device).eval()
            if precision == "bfloat16":
                model.set_text_precision(torch.bfloat16)
            self.models.append(model)
            tokenizer_dir = directory / TOKENIZER_DIR
            self.tokenizers.append(load_tokenizer(tokenizer_dir) if tokenizer_dir.is_dir() else None)
        # seeds of one run share its tokenizer: texts are tokenised once per distinct tokenizer
        vocabularies = [t.backend_tokenizer.to_str() if t is not None else None for t in self.tokenizers]
        self._token_group = [vocabularies.index(v) for v in vocabularies]
        first = self.cards[0]
        for seed, card in zip(self.seeds, self.cards):
            if (card.task_names, card.task_type, card.featurizer, card.text) != (first.task_names, first.task_type,
                                                                                first.featurizer, first.text):
                raise ArtifactError(f"{self.run}: seed {seed} was trained on other tasks or input settings than "
                                    f"seed {self.seeds[0]}; its models cannot be averaged")
        self.task_names, self.task_type = first.task_names, first.task_type
        self.featurizer, self.text = first.featurizer, first.text

    @property
    def uses_text(self) -> bool:
        return bool(self.text)

    def featurize_config(self):
        from lgmcl_dgl.featurize.pipeline import FeaturizeConfig

        return FeaturizeConfig(atom_featurizer=self.featurizer["atom_featurizer"],
                               fingerprints=tuple(self.featurizer["fingerprints"]), progress=False)

    def check_featurized(self, settings: dict, where: object) -> None:
        """Refuse features made with other settings than the models were trained on."""
        theirs = {k: settings.get(k) for k in self.featurizer}
        if theirs != self.featurizer:
            changed = ", ".join(f"{k}: {theirs[k]!r} (model: {self.featurizer[k]!r})"
                                for k in self.featurizer if theirs[k] != self.featurizer[k])
            raise ArtifactError(f"{where}: featurized with other settings than {self.run}'s models: {changed}")

    def check_descriptions(self, backend: str, where: object) -> None:
        if self.uses_text and backend != self.text["backend"]:
            raise ArtifactError(f"{where}: descriptions come from backend {backend!r}, "
                                f"but {self.run}'s models were trained on {self.text['backend']!r} descriptions")

    def describe(self, smiles: list[str]) -> list[str]:
        return describe_as_trained(self.text, smiles)

    def predict_records(self, records: list, descriptions: list[str] | None, batch_size: int = 256,
                        atom_budget: int = DEFAULT_ATOM_BUDGET) -> np.ndarray:
        """(seeds, molecules, tasks) predictions in original units (probabilities for classification), in
        the order of ``records``; batches group molecules of similar size under ``atom_budget``."""
        from lgmcl_dgl.evaluate.inference import Collator, ModelInput, raw_outputs, to_original_units, tokenize

        out = np.zeros((len(self.seeds), len(records), len(self.task_names)), np.float32)
        if not records:
            return out
        token_ids: dict[int, tuple[list, list]] = {}
        for k, (card, model, tokenizer) in enumerate(zip(self.cards, self.models, self.tokenizers)):
            order = np.arange(len(records))
            if self.uses_text:
                length = self.text["max_length"]
                group = self._token_group[k]
                if group not in token_ids:
                    token_ids[group] = (tokenize(tokenizer, [r.smiles for r in records], length),
                                        tokenize(tokenizer, descriptions, length))
                smiles_ids, desc_ids = token_ids[group]
                # similar lengths batch with less padding; a stable sort by atoms (atom_budget) keeps this order in ties
                order = np.argsort([len(d) for d in desc_ids], kind="stable")
                items = [ModelInput(records[i], smiles_ids[i], desc_ids[i]) for i in order]
                collator = Collator(tokenizer.pad_token_id)
            else:
                items, collator = [ModelInput(r) for r in records], Collator()
            outputs = raw_outputs(model, items, collator, batch_size, self.device, atom_budget)
            out[k, order] = to_original_units(outputs, card.task_type, card.label_stats)
        return out


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class _Chunk:
    """Rows of the input with their featurisation (a record or an invalid row each) and, for the
    valid records, descriptions when the worker made them."""

    rows: np.ndarray
    smiles: list[str]
    results: list | None
    texts: list[str] | None = None
    kept: pd.DataFrame | None = None  # the input's other columns, under their output names


def describe_as_trained(text: dict, smiles: list[str]) -> list[str]:
    """Descriptions from the backend (and its options) a model's text settings name."""
    from lgmcl_dgl.text.describe import describe

    return describe(smiles, text["backend"], **dict(text.get("options", {}))) if smiles else []


def _prepare(chunk: _Chunk, featurize_config, text: dict | None) -> _Chunk:
    """Featurise (unless done) and describe (when ``text`` holds the backend settings) one chunk."""
    from lgmcl_dgl.featurize.dataset import MoleculeRecord
    from lgmcl_dgl.featurize.pipeline import featurize_smiles

    if chunk.results is None:
        chunk.results = featurize_smiles(chunk.smiles, featurize_config, rows=chunk.rows)
    if text is not None:
        chunk.texts = describe_as_trained(text, [r.smiles for r in chunk.results if isinstance(r, MoleculeRecord)])
    return chunk


def _prepared(chunks: Iterable[_Chunk], featurize_config, text: dict | None, jobs: int) -> Iterator[_Chunk]:
    """``chunks`` prepared in input order, by ``jobs`` worker processes (here when 0), at most
    ``jobs + 1`` ahead of the consumer."""
    if jobs < 1:
        yield from (_prepare(chunk, featurize_config, text) for chunk in chunks)
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_prepare, (chunk, featurize_config, text)))
            if len(pending) > jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _score_chunk(ensemble: Ensemble, chunk: _Chunk, config: PredictConfig, domain: applicability.Domain,
                 descriptions: dict[int, str] | None = None) -> pd.DataFrame:
    from lgmcl_dgl.featurize.dataset import MoleculeRecord

    valid = [i for i, r in enumerate(chunk.results) if isinstance(r, MoleculeRecord)]
    errors = ["" if isinstance(r, MoleculeRecord) else r.reason for r in chunk.results]
    records = [chunk.results[i] for i in valid]
    texts = chunk.texts
    if ensemble.uses_text and records and descriptions is not None:
        missing = [int(r.row) for r in records if int(r.row) not in descriptions]
        if missing:
            raise ArtifactError(f"no description for row(s) {missing[:5]}; the descriptions were made from another input")
        texts = [descriptions[int(r.row)] for r in records]
    per_seed = ensemble.predict_records(records, texts, config.batch_size, config.atom_budget)
    return chunk_frame(chunk.rows, chunk.smiles, errors, valid, per_seed, ensemble.task_names, chunk.kept,
                       domain.columns([r.smiles for r in records]))


def predict(run: str | Path, source: str | Path, out: str | Path, config: PredictConfig | None = None,
            descriptions: str | Path | None = None) -> Path:
    """Write ``out``: one row per input row, in input order, never dropping a row; returns ``out``.

    ``source`` is a CSV, SMILES file, registry name or featurize directory (whose settings must
    match the models'); ``descriptions`` (an augment directory of the same input) replaces
    describing on the fly. A CSV's other columns are kept beside the predictions.
    """
    from lgmcl_dgl.featurize.pipeline import default_jobs

    config = config or PredictConfig()
    ensemble = Ensemble(run, config.device, config.precision)
    domain = applicability.load_domain(run)
    known = _known_descriptions(ensemble, descriptions) if descriptions is not None else None
    featurized = _is_featurize_dir(source)
    if featurized:
        chunks = _featurized_chunks(ensemble, Path(source), config.chunk_size)
    else:
        smiles_column = smiles_column_for(run, source, config.smiles_column, config.encoding)
        chunks = _input_chunks(iter_smiles_chunks(source, smiles_column, config.chunk_size, config.encoding),
                               ensemble.task_names, len(ensemble.seeds))
    text = ensemble.text if ensemble.uses_text and known is None else None
    jobs = default_jobs() if config.jobs is None else config.jobs
    if featurized and text is None:
        jobs = 0  # nothing left to prepare: sending the records to workers and back would be all cost
    writer = None  # opened at the first chunk, which names the input's columns
    threads = torch.get_num_threads()
    # beside workers that keep the other cores busy, a second torch thread mostly spins: 2.55 vs 3.66
    # CPU-ms per molecule for the small preset's model (docs/finetune.md)
    torch.set_num_threads(config.threads or (1 if jobs else threads))
    ok = False
    try:
        for chunk in _prepared(chunks, ensemble.featurize_config(), text, jobs):
            if writer is None:
                kept = list(chunk.kept.columns) if chunk.kept is not None else []
                writer = _AtomicCsv(out, prediction_columns(ensemble.task_names, len(ensemble.seeds), kept))
            writer.write(_score_chunk(ensemble, chunk, config, domain, known))
        if writer is None:  # no rows: the header alone
            writer = _AtomicCsv(out, prediction_columns(ensemble.task_names, len(ensemble.seeds)))
        ok = True
    finally:
        torch.set_num_threads(threads)
        if writer is not None:
            writer.close(ok)
    return Path(out)


def _input_chunks(chunks: Iterable[tuple[np.ndarray, list[str], pd.DataFrame]], task_names: list[str],
                  n_seeds: int) -> Iterator[_Chunk]:
    names = None
    for rows, smiles, others in chunks:
        if names is None:
            names = kept_names(list(others.columns), task_names, n_seeds)
        yield _Chunk(rows, smiles, None, kept=others.rename(columns=names))


def _known_descriptions(ensemble: Ensemble, directory: str | Path) -> dict[int, str]:
    from lgmcl_dgl.text.augment import load_descriptions

    records = load_descriptions(directory)
    for backend in {record.backend for record in records.values()}:
        ensemble.check_descriptions(backend, directory)
    return {row: record.description for row, record in records.items()}


def _is_featurize_dir(source: str | Path) -> bool:
    from lgmcl_dgl.data.artifacts import MANIFEST

    return Path(source).is_dir() and (Path(source) / MANIFEST).is_file()


def _featurized_chunks(ensemble: Ensemble, directory: Path, chunk_size: int) -> Iterator[_Chunk]:
    """Chunks of a featurize directory's rows in input order: its records, and its invalid rows with their reasons."""
    from lgmcl_dgl.data.artifacts import Manifest
    from lgmcl_dgl.data.load import InvalidRow
    from lgmcl_dgl.featurize.dataset import FeaturizedDataset
    from lgmcl_dgl.featurize.pipeline import INVALID_CSV

    manifest = Manifest.read(directory, kind="featurize")
    ensemble.check_featurized(manifest.config, directory)
    dataset = FeaturizedDataset(directory)
    invalid = pd.read_csv(directory / INVALID_CSV, dtype={"smiles": str, "reason": str}, keep_default_na=False)
    invalid_by_row = {int(r.row): InvalidRow(int(r.row), r.smiles, r.reason) for r in invalid.itertuples()}
    position_of = {int(row): i for i, row in enumerate(dataset.rows)}
    n_input = int(manifest.counts["n_input"])
    for start in range(0, n_input, chunk_size):
        rows = np.arange(start, min(start + chunk_size, n_input))
        results = [dataset[position_of[r]] if r in position_of else invalid_by_row[r] for r in rows.tolist()]
        yield _Chunk(rows, [r.smiles for r in results], results)
