"""Rows of a CSV, SMILES file or registry dataset -> SMILES, labels with masks, and an invalid report.

Rows are numbered from 0 over data rows (the header is not a row); the same numbers appear in
``invalid.csv``, split files and predictions, so every input row can be traced.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lgmcl_dgl.data import registry

log = logging.getLogger(__name__)

SMILES_FILE_SUFFIXES = (".smi", ".smiles", ".txt")
DEFAULT_ENCODING = "utf-8"


class InputError(ValueError):
    """The input cannot be used as given; the message names the file, row and column."""


@dataclass(frozen=True)
class InvalidRow:
    row: int
    smiles: str
    reason: str


@dataclass
class MoleculeTable:
    """Molecules of one input in input order. ``labels`` is float32 with NaN where a label is missing."""

    source: Path
    rows: np.ndarray  # data-row index of each molecule in the input file
    smiles: list[str]
    labels: np.ndarray  # (n, n_tasks) float32, NaN = missing
    task_names: list[str]
    n_input: int
    invalid: list[InvalidRow] = field(default_factory=list)
    spec: registry.DatasetSpec | None = None
    smiles_column: str | None = None  # the CSV column the SMILES came from (None for a SMILES file)

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def mask(self) -> np.ndarray:
        return ~np.isnan(self.labels)

    def subset(self, positions: np.ndarray | list[int]) -> "MoleculeTable":
        positions = np.asarray(positions, dtype=np.int64)
        return MoleculeTable(self.source, self.rows[positions], [self.smiles[i] for i in positions],
                             self.labels[positions], self.task_names, self.n_input, [], self.spec, self.smiles_column)


def resolve_source(source: str | Path) -> tuple[Path, registry.DatasetSpec | None]:
    """A path as given, or a registry name: the shipped copy if the package has one, else the cache."""
    path = Path(source)
    if path.exists():
        return path, None
    name = str(source).lower()
    if name in registry.DATASETS:
        spec = registry.get_spec(name)
        embedded = registry.EMBEDDED.get(name)
        return (embedded if embedded and embedded.is_file() else registry.fetch(name)), spec
    raise InputError(f"{source}: no such file, and not a dataset name ({', '.join(registry.DATASETS)})")


def read_table(source: str | Path, smiles_column: str | None = None,
               target_columns: list[str] | None = None, *, require_targets: bool = False,
               encoding: str = DEFAULT_ENCODING) -> MoleculeTable:
    """Read SMILES and labels without parsing molecules (fast; parsing happens in ``validate``)."""
    path, spec = resolve_source(source)
    if path.suffix.lower() in SMILES_FILE_SUFFIXES:
        smiles = _read_smiles_file(path, encoding)
        table = MoleculeTable(path, np.arange(len(smiles)), smiles, np.zeros((len(smiles), 0), np.float32), [],
                              len(smiles), spec=spec)
    else:
        table = _read_csv(path, spec, smiles_column, target_columns, encoding)
    if require_targets and not table.task_names:
        raise InputError(f"{path}: no target columns; name them with --target-columns")
    return table


def _read_smiles_file(path: Path, encoding: str) -> list[str]:
    smiles = []
    try:
        with open(path, encoding=encoding) as handle:
            for line in handle:
                line = line.strip()
                smiles.append(line.split()[0] if line else "")
    except UnicodeDecodeError:
        raise undecodable(path, encoding, header=False) from None
    while smiles and not smiles[-1]:
        smiles.pop()
    if not smiles:
        raise InputError(f"{path}: empty file, no SMILES")
    return smiles


# A blank line is a row (an empty SMILES, reported as invalid), not skipped: a spreadsheet saves an empty cell of a
# one-column sheet as a blank line, and skipping it would shift every later row against the user's file.
CSV_OPTIONS = {"dtype": str, "keep_default_na": False, "skip_blank_lines": False, "compression": "infer"}
# In the cache keys of featurize and augment: outputs made when blank lines were skipped numbered rows otherwise.
ROWS = "every line after the header"
# In featurize's cache key when no target columns are named: outputs of the older guess took every numeric column.
LABEL_COLUMNS = "mostly numeric columns that are not ID-like; a text cell in one is an error"


def _read_csv(path: Path, spec: registry.DatasetSpec | None, smiles_column: str | None,
              target_columns: list[str] | None, encoding: str) -> MoleculeTable:
    try:
        frame = pd.read_csv(path, **CSV_OPTIONS, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file, no header and no rows") from None
    except UnicodeDecodeError:
        raise undecodable(path, encoding, header=True) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a readable CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    smiles_column = smiles_column or (spec.smiles_column if spec else None) or _guess_smiles_column(path, frame)
    if smiles_column not in frame.columns:
        raise InputError(f"{path}: no column {smiles_column!r}; columns are {list(frame.columns)}")
    if target_columns is None and spec is not None:
        target_columns = list(spec.task_columns) if spec.task_columns else [c for c in frame.columns if c != smiles_column]
    if target_columns is None:
        target_columns = choose_target_columns(path, frame, smiles_column)
    missing = [c for c in target_columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: no column(s) {missing}; columns are {list(frame.columns)}")
    if len(frame) == 0:
        raise InputError(f"{path}: header only, no data rows")
    labels = np.full((len(frame), len(target_columns)), np.nan, dtype=np.float32)
    for j, column in enumerate(target_columns):
        labels[:, j] = _parse_labels(path, frame[column], column)
    smiles = [s.strip() for s in frame[smiles_column].tolist()]
    return MoleculeTable(path, np.arange(len(frame)), smiles, labels, list(target_columns), len(frame), spec=spec,
                         smiles_column=smiles_column)


def csv_columns(path: Path, encoding: str = DEFAULT_ENCODING) -> list[str]:
    """The header of a CSV, names stripped as ``read_table`` strips them."""
    try:
        return [str(c).strip() for c in pd.read_csv(path, **CSV_OPTIONS, encoding=encoding, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file, no header and no rows") from None
    except UnicodeDecodeError:
        raise undecodable(path, encoding, header=True) from None


_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_ARCHIVES = (".zip", ".zst", ".tar")  # pandas reads these too; their lines are not scanned here


def undecodable(path: Path, encoding: str, *, header: bool) -> InputError:
    """The first line of ``path`` that ``encoding`` cannot decode, named as a row the user can find
    (a decoder's byte offset counts from wherever the reader's buffer began)."""
    where = f"a line is not valid {encoding}"
    suffix = path.suffix.lower()
    if suffix not in _ARCHIVES:
        with _OPENERS.get(suffix, open)(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    line.decode(encoding)
                except UnicodeDecodeError as exc:
                    row = "the header" if header and number == 1 else f"row {number - 2 if header else number - 1}"
                    where = f"{row} (line {number}) is not valid {encoding} (byte {line[exc.start]:#04x})"
                    break
    return InputError(f"{path}: {where}; give the file's encoding with --encoding (e.g. latin-1 or cp1252)")


def _guess_smiles_column(path: Path, frame: pd.DataFrame) -> str:
    lowered = {c.lower(): c for c in frame.columns}
    for name in ("smiles", "canonical_smiles", "mol"):
        if name in lowered:
            return lowered[name]
    candidates = [c for c in frame.columns if "smiles" in c.lower()]
    if len(candidates) == 1:
        return candidates[0]
    raise InputError(f"{path}: cannot tell which column holds SMILES among {list(frame.columns)}; "
                     "name it with --smiles-column")


_MISSING = {"", "nan", "NaN", "NA", "N/A", "na", "null", "None"}


# The last word of a column name that numbers rows or compounds ("num", "mol_id", "Compound ID", "CID", "index").
ID_WORDS = frozenset({"id", "ids", "idx", "index", "num", "no", "nr", "number", "cid"})
# Distinct integers in this many rows number them; in fewer they may well be labels (y = 0, 1, 2 in a 3-row file).
ID_MIN_ROWS = 20


def choose_target_columns(path: Path, frame: pd.DataFrame, smiles_column: str) -> list[str]:
    """The label columns of a CSV whose target columns were not named, logged so that a wrong guess is seen.

    A column mostly of numbers is a label column, and a text cell in it stops the run (``_parse_labels``)
    rather than dropping the column; a column mostly of text (names) is not one; an ID-like column
    (named like an ID, or distinct integers in many rows) never is, since a model would learn the row numbers.
    Training asks for more (``check_guessed_targets``).
    """
    chosen: list[str] = []
    left_out: dict[str, list[str]] = {"ID-like": [], "text": [], "empty": []}
    for column in frame.columns:
        if column == smiles_column:
            continue
        values = frame[column].str.strip()
        present = values[~values.isin(_MISSING)]
        numbers = pd.to_numeric(present, errors="coerce")
        if not len(present):
            left_out["empty"].append(column)
        elif numbers.notna().sum() * 2 <= len(present):
            left_out["text"].append(column)
        elif _is_id_like(column, numbers):
            left_out["ID-like"].append(column)
        else:
            chosen.append(column)
    skipped = "; ".join(f"{kind} {_names(columns)}" for kind, columns in left_out.items() if columns)
    if not chosen:
        if skipped:
            log.info("%s: no label column (left out: %s)", path, skipped)
        return chosen
    log.info("%s: label column(s) %s, chosen as --target-columns was not given%s", path, _names(chosen),
             f" (left out: {skipped})" if skipped else "")
    return chosen


def check_guessed_targets(table: MoleculeTable) -> None:
    """Guessed label columns to train on: one, or several 0/1 ones (multi-task classification, as Tox21).

    Several others (ESOL's descriptors beside its measured solubility) would each become a task;
    the user must name the real ones.
    """
    if len(table.task_names) <= 1 or np.isin(table.labels[table.mask], (0.0, 1.0)).all():
        return
    raise InputError(f"{table.source}: cannot tell which of the numeric columns {_names(table.task_names)} are "
                     "labels (they are not all 0/1 tasks); name them with --target-columns")


def _is_id_like(column: str, numbers: pd.Series) -> bool:
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", column)
    if words and words[-1].lower() in ID_WORDS:
        return True
    integers = numbers.notna().all() and bool((numbers % 1 == 0).all())
    return integers and len(numbers) >= ID_MIN_ROWS and numbers.is_unique


def _names(columns: list[str], shown: int = 10) -> str:
    listed = ", ".join(columns[:shown])
    return listed if len(columns) <= shown else f"{listed}, ... ({len(columns)} in all)"


def _parse_labels(path: Path, values: pd.Series, column: str) -> np.ndarray:
    stripped = values.str.strip()
    missing = stripped.isin(_MISSING)
    numbers = pd.to_numeric(stripped.where(~missing), errors="coerce")
    bad = numbers.isna() & ~missing
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: row {row} (line {row + 2}), column {column!r}: label "
                         f"{values.iloc[row]!r} is not a number ({int(bad.sum())} such value(s) in the column)")
    return numbers.to_numpy(dtype=np.float32)


class _RDKitMessages(logging.Handler):
    """Collects RDKit's log lines so a parse failure can be reported in RDKit's own words."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: deque[str] = deque(maxlen=100)  # bounded: warnings of valid molecules are never cleared

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().split("] ", 1)[-1].strip())


_rdkit_messages: _RDKitMessages | None = None


def _rdkit_log() -> _RDKitMessages:
    global _rdkit_messages
    if _rdkit_messages is None:
        from rdkit import rdBase

        rdBase.LogToPythonLogger()
        logger = logging.getLogger("rdkit")
        _rdkit_messages = _RDKitMessages()
        logger.handlers = [_rdkit_messages]  # RDKit's own handler would print every message to stderr
        logger.propagate = False
    return _rdkit_messages


def smiles_problem(smiles: str):
    """Parse one SMILES; return ``(mol, None)`` or ``(None, reason)`` with RDKit's own words."""
    from rdkit import Chem, rdBase

    if not smiles:
        return None, "empty SMILES"
    log = _rdkit_log()
    log.messages.clear()
    rdBase.EnableLog("rdApp.error")  # importing dgllife.data (e.g. via dgllife.model) disables RDKit's logs globally
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        first = next((m for m in log.messages if "Parse Error" in m), None)
        return None, first or "RDKit cannot parse this SMILES"
    if mol.GetNumAtoms() == 0:
        return None, "molecule has no atoms"
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several sanitisation exception types
        return None, f"{type(exc).__name__}: {exc}"
    return mol, None


def parse_smiles(smiles: str):
    """RDKit's default parse (explicit H removed, stereo perceived): ``(mol, None)`` or ``(None, reason)``.

    A valid SMILES is parsed once; only one that fails is parsed again, by ``smiles_problem``, for the reason.
    """
    from rdkit import Chem, rdBase

    _rdkit_log()  # RDKit's messages go where smiles_problem sends them, not to stderr
    rdBase.EnableLog("rdApp.error")
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None or mol.GetNumAtoms() == 0:
        return None, smiles_problem(smiles)[1] or "RDKit cannot parse this SMILES"
    return mol, None


def validate(table: MoleculeTable) -> MoleculeTable:
    """Keep the molecules RDKit can parse and list every other row with its reason."""
    keep, invalid = [], list(table.invalid)
    for position, smiles in enumerate(table.smiles):
        _, reason = smiles_problem(smiles)
        if reason is None:
            keep.append(position)
        else:
            invalid.append(InvalidRow(int(table.rows[position]), smiles, reason))
    valid = table.subset(keep)
    valid.invalid = invalid
    if not len(valid):
        raise InputError(f"{table.source}: none of {table.n_input} rows holds a valid molecule "
                         f"(first problem: row {invalid[0].row}: {invalid[0].reason})")
    return valid


def load_molecules(source: str | Path, smiles_column: str | None = None,
                   target_columns: list[str] | None = None, *, require_targets: bool = False,
                   encoding: str = DEFAULT_ENCODING) -> MoleculeTable:
    return validate(read_table(source, smiles_column, target_columns, require_targets=require_targets,
                               encoding=encoding))


def write_invalid_csv(path: str | Path, invalid: list[InvalidRow]) -> Path:
    from lgmcl_dgl.data.artifacts import atomic_write_text

    frame = pd.DataFrame([(r.row, r.smiles, r.reason) for r in invalid], columns=["row", "smiles", "reason"])
    return atomic_write_text(path, frame.to_csv(index=False))
