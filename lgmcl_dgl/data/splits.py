"""Train/validation/test splits as data-row indices: random, Bemis-Murcko scaffold, or a saved file.

A split is stored as ``{"train": [...], "val": [...], "test": [...]}`` of 0-based data-row indices
into the input file, the format every run writes and ``--split-file`` reads back. Every split made
here keeps all copies of a molecule (same canonical SMILES) in one part; a split file is used as
given, with a warning when it separates copies.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from lgmcl_dgl.data.artifacts import atomic_write_json
from lgmcl_dgl.data.duplicates import molecule_groups
from lgmcl_dgl.data.load import InputError, MoleculeTable

log = logging.getLogger(__name__)

SPLIT_KINDS = ("random", "scaffold", "scaffold_balanced")
PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Positions into a MoleculeTable for each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def to_rows(self, table: MoleculeTable) -> dict[str, list[int]]:
        return {name: table.rows[pos].astype(int).tolist() for name, pos in self.parts().items()}

    def save(self, path: str | Path, table: MoleculeTable) -> Path:
        return atomic_write_json(path, self.to_rows(table))

    def without(self, positions: np.ndarray) -> "Split":
        """The same split less some molecules (copies merged into their first copy)."""
        return Split(*(np.setdiff1d(part, positions) for part in (self.train, self.val, self.test)))


def _check_sizes(sizes: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(sizes) != 3 or any(s < 0 for s in sizes) or abs(sum(sizes) - 1.0) > 1e-6:
        raise ValueError(f"split sizes must be three non-negative fractions summing to 1, got {sizes}")
    return tuple(float(s) for s in sizes)


def random_split(groups: list[np.ndarray], sizes=(0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Whole groups (the copies of one molecule) are drawn, so the fractions are of distinct molecules.

    With one position per group in position order (no duplicates) this is the plain split of positions.
    """
    train_f, val_f, test_f = _check_sizes(sizes)
    indices = np.arange(len(groups))
    if test_f > 0:
        rest, test = train_test_split(indices, test_size=test_f, random_state=seed)
    else:
        rest, test = indices, indices[:0]
    if val_f > 0:
        train, val = train_test_split(rest, test_size=val_f / (train_f + val_f), random_state=seed)
    else:
        train, val = rest, rest[:0]
    return Split(*(_positions(groups, part) for part in (train, val, test)))


def _positions(groups: list[np.ndarray], chosen: np.ndarray) -> np.ndarray:
    return np.sort(np.concatenate([groups[i] for i in chosen])) if len(chosen) else np.zeros(0, np.int64)


def murcko_scaffold(smiles: str) -> str:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    mol = Chem.MolFromSmiles(smiles)
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False) if mol is not None else smiles


def scaffold_groups(smiles: list[str]) -> list[np.ndarray]:
    groups: dict[str, list[int]] = defaultdict(list)
    for position, s in enumerate(smiles):
        groups[murcko_scaffold(s)].append(position)
    return [np.asarray(g) for g in groups.values()]


def scaffold_split(smiles: list[str], sizes=(0.8, 0.1, 0.1), seed: int = 0, balanced: bool = False) -> Split:
    """Whole scaffold sets go to one part, so test molecules have scaffolds never seen in training.

    Deterministic, as DeepChem's ScaffoldSplitter: largest sets first (ties: the set whose first
    molecule comes later in the file first), filling train, then val, then test. ``balanced`` (chemprop's variant): sets larger than half the test size go first, the rest
    in a seeded random order, so small scaffolds spread over all parts.
    """
    train_f, val_f, _ = _check_sizes(sizes)
    n = len(smiles)
    groups = scaffold_groups(smiles)
    if balanced:
        rng = np.random.default_rng(seed)
        limit = (1.0 - train_f - val_f) * n / 2
        big = [g for g in groups if len(g) > limit]
        small = [g for g in groups if len(g) <= limit]
        rng.shuffle(big)
        rng.shuffle(small)
        ordered = big + small
    else:
        ordered = sorted(groups, key=lambda g: (len(g), g[0]), reverse=True)
    train_cap, val_cap = train_f * n, (train_f + val_f) * n
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for group in ordered:
        if len(parts["train"]) + len(group) <= train_cap:
            parts["train"].extend(group)
        elif len(parts["train"]) + len(parts["val"]) + len(group) <= val_cap:
            parts["val"].extend(group)
        else:
            parts["test"].extend(group)
    return Split(*(np.sort(np.asarray(parts[p], dtype=np.int64)) for p in PARTS))


def load_split_file(path: str | Path, table: MoleculeTable) -> Split:
    """Map a saved split of data rows onto the valid molecules of ``table``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable split file: {exc}") from None
    if not isinstance(data, dict) or set(data) != set(PARTS):
        raise InputError(f"{path}: a split file is a JSON object with exactly the keys {list(PARTS)}")
    position_of = {int(row): i for i, row in enumerate(table.rows)}
    invalid_rows = {r.row for r in table.invalid}
    seen: dict[int, str] = {}
    parts = {}
    for name in PARTS:
        positions = []
        for row in data[name]:
            if row in seen:
                raise InputError(f"{path}: row {row} is in both {seen[row]!r} and {name!r}")
            seen[row] = name
            if row in invalid_rows:
                continue  # reported in invalid.csv already; nothing to train or test on
            if row not in position_of:
                raise InputError(f"{path}: {name!r} names row {row}, which {table.source} does not have")
            positions.append(position_of[row])
        parts[name] = np.sort(np.asarray(positions, dtype=np.int64))
    split = Split(parts["train"], parts["val"], parts["test"])
    _warn_if_copies_separated(path, table, split)
    return split


def _warn_if_copies_separated(path: Path, table: MoleculeTable, split: Split) -> None:
    part_of = {int(p): name for name, positions in split.parts().items() for p in positions}
    separated = [g for g in molecule_groups(table.smiles) if len({part_of.get(int(p)) for p in g} - {None}) > 1]
    if separated:
        example = ", ".join(f"row {int(table.rows[p])} in {part_of[int(p)]}" for p in separated[0] if int(p) in part_of)
        log.warning("%s: puts copies of %d molecule(s) in different parts (e.g. %s); used as given", path,
                    len(separated), example)


def make_split(table: MoleculeTable, kind: str = "random", sizes=(0.8, 0.1, 0.1), seed: int = 0,
               split_file: str | Path | None = None) -> Split:
    if split_file is not None:
        return load_split_file(split_file, table)
    if kind == "random":
        return random_split(molecule_groups(table.smiles), sizes, seed)
    if kind in ("scaffold", "scaffold_balanced"):
        return scaffold_split(table.smiles, sizes, seed, balanced=kind == "scaffold_balanced")
    raise ValueError(f"unknown split {kind!r}; choose from {', '.join(SPLIT_KINDS)} or give a split file")
