"""Apply a fine-tuned RUN to new molecules: one output row per input row, in input order.

Input is read and written in chunks, so memory stays bounded however large the file. Each
chunk's valid molecules are featurised and described in memory with the settings the models
were trained on, scored by every seed's model, and written as the seed-ensemble mean (and std
with several seeds); rows that cannot be used keep their place with the reason in ``error``.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lgmcl_dgl.data.load import SMILES_FILE_SUFFIXES, InputError, _guess_smiles_column, resolve_source, smiles_problem


@dataclass
class PredictConfig:
    batch_size: int = 256  # molecules per forward pass
    chunk_size: int = 4096  # molecules read, featurised and written at a time (bounds memory)
    device: str = "cpu"
    smiles_column: str | None = None


def iter_smiles_chunks(source: str | Path, smiles_column: str | None = None,
                       chunk_size: int = 4096) -> Iterator[tuple[np.ndarray, list[str]]]:
    """(data rows, SMILES) of a CSV, SMILES file or registry name, ``chunk_size`` rows at a time."""
    path, spec = resolve_source(source)
    if path.suffix.lower() in SMILES_FILE_SUFFIXES:
        yield from _smiles_file_chunks(path, chunk_size)
        return
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer", chunksize=chunk_size)
        start = 0
        for frame in reader:
            frame.columns = [str(c).strip() for c in frame.columns]
            if start == 0:
                smiles_column = smiles_column or (spec.smiles_column if spec else None) or _guess_smiles_column(path, frame)
                if smiles_column not in frame.columns:
                    raise InputError(f"{path}: no column {smiles_column!r}; columns are {list(frame.columns)}")
            yield np.arange(start, start + len(frame)), [s.strip() for s in frame[smiles_column].tolist()]
            start += len(frame)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file, no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV: {exc}") from None


def _smiles_file_chunks(path: Path, chunk_size: int) -> Iterator[tuple[np.ndarray, list[str]]]:
    rows, smiles = [], []
    with open(path, encoding="utf-8") as handle:
        for row, line in enumerate(handle):
            line = line.strip()
            rows.append(row)
            smiles.append(line.split()[0] if line else "")
            if len(smiles) == chunk_size:
                yield np.asarray(rows), smiles
                rows, smiles = [], []
    if smiles:
        yield np.asarray(rows), smiles


def parse_chunk(smiles: list[str]) -> tuple[list[int], list[str]]:
    """Positions of the parseable SMILES, and an error string per input ('' when usable)."""
    valid, errors = [], []
    for position, s in enumerate(smiles):
        _, reason = smiles_problem(s)
        errors.append(reason or "")
        if reason is None:
            valid.append(position)
    return valid, errors


def prediction_columns(task_names: list[str], n_seeds: int) -> list[str]:
    columns = ["row", "smiles"]
    for name in task_names:
        columns += [name, f"{name}_std"] if n_seeds > 1 else [name]
    return columns + ["error"]


def chunk_frame(rows: np.ndarray, smiles: list[str], errors: list[str], valid: list[int],
                per_seed: np.ndarray, task_names: list[str]) -> pd.DataFrame:
    """Rows of one chunk: ``per_seed`` is (seeds, len(valid), tasks) in original units."""
    n_seeds = per_seed.shape[0]
    frame = pd.DataFrame({"row": rows, "smiles": smiles})
    mean = np.full((len(smiles), len(task_names)), np.nan, np.float32)
    std = np.full_like(mean, np.nan)
    if valid:
        mean[valid] = per_seed.mean(axis=0)
        std[valid] = per_seed.std(axis=0)
    for j, name in enumerate(task_names):
        frame[name] = mean[:, j]
        if n_seeds > 1:
            frame[f"{name}_std"] = std[:, j]
    frame["error"] = errors
    return frame


class _AtomicCsv:
    """Appends chunks to a temporary file beside ``path``; renamed into place only when complete."""

    def __init__(self, path: str | Path, columns: list[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self.handle = os.fdopen(fd, "w", newline="", encoding="utf-8")
        csv.writer(self.handle).writerow(columns)

    def write(self, frame: pd.DataFrame) -> None:
        frame.to_csv(self.handle, header=False, index=False, float_format="%.6g")

    def close(self, ok: bool) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            Path(self.tmp).unlink(missing_ok=True)
