"""Rebuild the shipped slices from the full files in ../shared/data: ``python tests/slices/make_slices.py``.

Each slice is whole lines of its upstream file (gzip content compared, not gzip bytes); SOURCES.md says
which lines and why. tests/test_slices.py checks, where ../shared/data exists, that they still match.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _lines(path: Path) -> list[str]:
    """Lines with their own endings (CRLF files stay CRLF)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        return handle.read().splitlines(keepends=True)


def _head(n: int):
    return lambda lines: lines[:n + 1]


def _first_columns(n_columns: int, n_rows: int):
    """bace.csv's first columns only: its 590 descriptor columns would make 60 rows 150 KB."""
    def take(lines: list[str]) -> list[str]:
        ending = "\r\n" if lines[0].endswith("\r\n") else "\n"
        return [",".join(line.rstrip("\r\n").split(",")[:n_columns]) + ending for line in lines[:n_rows + 1]]
    return take


def _smiles_every(step: int):
    """toxcast's SMILES column, every ``step``-th row: its assay columns are 617 mostly empty cells a row."""
    def take(lines: list[str]) -> list[str]:
        return [lines[0].split(",", 1)[0] + "\n"] + [line.split(",", 1)[0] + "\n" for line in lines[1::step]]
    return take


#: slice path (under this folder) -> (upstream path under shared/data, how the lines are taken); None = whole file
SLICES = {
    "moleculenet/bace.csv": ("moleculenet/bace.csv", _first_columns(5, 60)),
    "moleculenet/clintox.csv.gz": ("moleculenet/clintox.csv.gz", None),
    "moleculenet/delaney-processed.csv": ("moleculenet/delaney-processed.csv", _head(100)),
    "moleculenet/tox21.csv.gz": ("moleculenet/tox21.csv.gz", _head(300)),
    "moleculenet/toxcast_data.csv.gz": ("moleculenet/toxcast_data.csv.gz", _smiles_every(25)),
    "pretrain/moses_test.csv.gz": ("pretrain/moses_test.csv.gz", _head(100)),
    "pretrain/moses_test_scaffolds.csv.gz": ("pretrain/moses_test_scaffolds.csv.gz", _head(800)),
}


def expected_lines(name: str, shared: Path) -> list[str]:
    upstream, take = SLICES[name]
    lines = _lines(shared / upstream)
    return lines if take is None else take(lines)


def shipped_lines(name: str) -> list[str]:
    return _lines(HERE / name)


def write_slices(shared: Path) -> None:
    for name, (upstream, take) in SLICES.items():
        target = HERE / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if take is None:
            shutil.copyfile(shared / upstream, target)
            continue
        text = "".join(take(_lines(shared / upstream)))
        if target.suffix == ".gz":
            with open(target, "wb") as raw, gzip.GzipFile(target.stem, "wb", 9, raw, mtime=0) as handle:
                handle.write(text.encode())
        else:
            target.write_bytes(text.encode())


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    from lgmcl_dgl.data.locations import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("no ../shared/data found; set LGMCL_SHARED_DATA to the folder holding moleculenet/ and pretrain/")
    write_slices(shared)
