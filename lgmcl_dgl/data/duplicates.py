"""Molecules that appear more than once in an input (the same canonical SMILES): found, reported, merged.

Copies of one molecule in train and test let a model be scored on molecules it has seen, with
labels that may even disagree; ``splits`` keeps every copy of a molecule in one part, this module
says which rows are copies and, with the ``merge`` policy, folds their labels into the first copy.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lgmcl_dgl.data.artifacts import atomic_write_text
from lgmcl_dgl.data.load import MoleculeTable

log = logging.getLogger(__name__)

DUPLICATES_CSV = "duplicates.csv"
# keep: every copy is a training example, all in one split part; merge: one example per molecule whose label,
# per task over the copies that have one, is the mean (regression) or the majority class, a tie counted positive
POLICIES = ("keep", "merge")


def canonical_smiles(smiles: str) -> str:
    """RDKit's canonical (isomeric) SMILES; the string itself when RDKit cannot parse it."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else smiles


def molecule_groups(smiles: list[str]) -> list[np.ndarray]:
    """Positions of each distinct molecule, in order of first appearance: one position each when all differ."""
    groups: dict[str, list[int]] = defaultdict(list)
    for position, s in enumerate(smiles):
        groups[canonical_smiles(s)].append(position)
    return [np.asarray(g, dtype=np.int64) for g in groups.values()]


@dataclass(frozen=True)
class Duplicates:
    """The molecules of a table that appear more than once."""

    groups: list[np.ndarray]  # positions of each such molecule's copies, first copy first
    conflicting: list[list[str]]  # per group, the tasks whose labels differ between its copies

    @property
    def n_rows(self) -> int:
        return sum(len(g) for g in self.groups)

    @property
    def copies(self) -> np.ndarray:
        """Positions of every copy but the first (the ones ``merge`` takes out of the split)."""
        return np.sort(np.concatenate([g[1:] for g in self.groups])) if self.groups else np.zeros(0, np.int64)

    def summary(self, policy: str) -> str:
        n_conflicting = sum(1 for tasks in self.conflicting if tasks)
        what = {"keep": "all copies of a molecule stay in one split part",
                "merge": "each is trained and scored once, its labels merged into its first row"}[policy]
        return (f"{len(self.groups)} molecule(s) appear more than once ({self.n_rows} rows), {n_conflicting} of them "
                f"with conflicting labels; {what} (--duplicates {policy})")


def find_duplicates(table: MoleculeTable) -> Duplicates:
    groups = [g for g in molecule_groups(table.smiles) if len(g) > 1]
    conflicting = []
    for group in groups:
        labels = table.labels[group]
        conflicting.append([name for j, name in enumerate(table.task_names)
                            if np.unique(labels[~np.isnan(labels[:, j]), j]).size > 1])
    return Duplicates(groups, conflicting)


def write_duplicates_csv(path: str | Path, table: MoleculeTable, duplicates: Duplicates) -> Path:
    """One line per copy: the molecule (numbered from 0), its input row and canonical SMILES, the tasks on
    which the copies disagree, and its labels (empty = missing)."""
    records = []
    for molecule, (group, conflicting) in enumerate(zip(duplicates.groups, duplicates.conflicting)):
        canonical = canonical_smiles(table.smiles[group[0]])
        for position in group:
            records.append([molecule, int(table.rows[position]), canonical, ";".join(conflicting),
                            *table.labels[position].tolist()])
    frame = pd.DataFrame(records, columns=["molecule", "row", "smiles", "conflicting_tasks", *table.task_names])
    return atomic_write_text(path, frame.to_csv(index=False, float_format="%.6g"))


def merged_labels(table: MoleculeTable, duplicates: Duplicates, task_type: str) -> np.ndarray:
    """The table's labels with each duplicated molecule's first copy holding the merged label of all its copies."""
    labels = table.labels.copy()
    for group in duplicates.groups:
        values = table.labels[group]
        present = ~np.isnan(values)
        counts = present.sum(axis=0)
        means = np.where(counts > 0, np.nansum(values, axis=0) / np.maximum(counts, 1), np.nan)
        if task_type == "classification":
            means = np.where(counts > 0, (means >= 0.5).astype(np.float32), np.nan)
        labels[group[0]] = means
    return labels.astype(np.float32)
