"""Several SMILES files as one pretraining corpus (e.g. MOSES train + test + test_scaffolds).

The files are joined into one CSV, one file at a time, so memory holds a single file's SMILES, never
the corpus's. Featurize and augment then number rows of the joined file; the manifest keeps which
rows came from which file (``locate``), so an invalid row is traced back to its file and line.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from lgmcl_dgl.data.artifacts import MANIFEST, Manifest, atomic_file, sha256_file
from lgmcl_dgl.data.load import InputError, read_table, resolve_source

KIND = "corpus"
CORPUS_FILE = "corpus.csv"
SMILES_COLUMN = "smiles"


def join_sources(sources: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 smiles_column: str | None = None) -> Path:
    """Join ``sources`` into ``OUT_DIR/corpus.csv`` (column ``smiles``); reused while the files are unchanged.

    Rows keep their order, blank and invalid SMILES included, so row ``k`` of the corpus is one row
    of one input (see ``locate``); nothing is parsed or dropped here.
    """
    out = Path(out_dir)
    paths = [resolve_source(s)[0] for s in sources]
    folders = [str(p) for p in paths if p.is_dir()]
    if folders:
        raise InputError(f"{', '.join(folders)}: a folder; several inputs must each be a SMILES file or CSV")
    inputs = {f"{i}:{p.name}": sha256_file(p) for i, p in enumerate(paths)}
    settings = {"smiles_column": smiles_column, "files": [str(p) for p in paths]}
    target = out / CORPUS_FILE
    if (out / MANIFEST).is_file() and target.is_file():
        manifest = Manifest.read(out, KIND)
        if manifest.inputs == inputs:
            return target
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    spans = []
    with atomic_file(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([SMILES_COLUMN])
        for path in paths:
            smiles = read_table(path, smiles_column, target_columns=[]).smiles
            spans.append({"file": str(path), "first_row": sum(s["rows"] for s in spans), "rows": len(smiles)})
            writer.writerows([s] for s in smiles)
    Manifest(KIND, settings, inputs, counts={"rows": sum(s["rows"] for s in spans)}, extra={"spans": spans}).write(out)
    return target


def locate(corpus_dir: str | os.PathLike, row: int) -> tuple[str, int]:
    """(input file, row in that file) of corpus row ``row``."""
    for span in Manifest.read(corpus_dir, KIND).extra["spans"]:
        if span["first_row"] <= row < span["first_row"] + span["rows"]:
            return span["file"], row - span["first_row"]
    raise IndexError(f"{corpus_dir}: corpus has no row {row}")
