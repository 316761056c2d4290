"""A featurize directory as a lazy, memory-mapped dataset, and the collate function every trainer uses.

On disk each shard is a folder of plain ``.npy`` arrays (no pickles), so opening 352k molecules
costs only the rows, labels and SMILES; graphs and fingerprints are read from the memory map when
a batch asks for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import dgl
import numpy as np
import torch

from lgmcl_dgl.data.artifacts import ArtifactError, Manifest
from lgmcl_dgl.featurize.distances import DISTANCE_FIELD, hop_distances, pad_rows
from lgmcl_dgl.featurize.fingerprints import BIT_FINGERPRINTS, FINGERPRINT_SIZES
from lgmcl_dgl.featurize.graphs import ATOM_FIELD, BOND_FIELD

MANIFEST_KIND = "featurize"
SHARDS_DIR = "shards"
SHARD_META = "shard.json"  # written last inside a shard: a shard folder with it is complete
SMILES_FILE = "smiles.txt"
DISTANCES = "distances"  # a shard's (sum of n_atoms ** 2,) uint8: each molecule's hop-distance matrix, row-major


@dataclass
class MoleculeRecord:
    """One featurized molecule. ``bonds`` holds each bond once; ``collate`` adds both directions."""

    row: int
    smiles: str  # canonical SMILES
    node_feats: np.ndarray  # (n_atoms, node_feat_dim) float32
    bonds: np.ndarray  # (n_bonds, 2) int atom indices
    bond_feats: np.ndarray  # (n_bonds, edge_feat_dim) float32
    fingerprints: np.ndarray  # (fingerprint_dim,) float32: MACCS | PubChem | ErG
    labels: np.ndarray  # (n_tasks,) float32, NaN = missing
    distances: np.ndarray | None = None  # (n_atoms, n_atoms) uint8 hop counts (featurize.distances); None: collate computes them

    def distance_matrix(self) -> np.ndarray:
        """The stored hop distances, or computed now for records from shards written before they were stored."""
        return self.distances if self.distances is not None else hop_distances(len(self.node_feats), self.bonds)


@dataclass
class GraphBatch:
    graph: dgl.DGLGraph  # batched; ndata["h"] atom features, edata["e"] bond features, both directions,
    # ndata["hops"] each atom's hop distances to the atoms of its molecule (featurize.distances.pad_rows)
    fingerprints: torch.Tensor  # (B, fingerprint_dim) float32
    labels: torch.Tensor  # (B, T) float32, missing labels are 0
    mask: torch.Tensor  # (B, T) bool, True where a label exists
    rows: torch.Tensor  # (B,) int64 input rows
    smiles: list[str]

    def __len__(self) -> int:
        return len(self.smiles)

    def to(self, device: torch.device | str) -> "GraphBatch":
        return GraphBatch(self.graph.to(device), self.fingerprints.to(device), self.labels.to(device),
                          self.mask.to(device), self.rows.to(device), self.smiles)


def collate(records: Sequence[MoleculeRecord]) -> GraphBatch:
    """Build one batched DGLGraph straight from the concatenated arrays (no per-molecule graphs).

    Hop distances travel as node data, so the graph carries them to any device and the global
    encoder never searches paths itself; records without stored distances get them here, on the
    DataLoader's worker."""
    n_atoms = np.fromiter((len(r.node_feats) for r in records), dtype=np.int64, count=len(records))
    n_bonds = np.fromiter((len(r.bonds) for r in records), dtype=np.int64, count=len(records))
    atom_offsets = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    bonds = np.concatenate([r.bonds for r in records]).astype(np.int32) + np.repeat(atom_offsets, n_bonds).astype(np.int32)[:, None]
    src = bonds.reshape(-1)  # u0, v0, u1, v1 ...: edge 2k is u->v of bond k, edge 2k+1 is v->u (dgllife's order)
    dst = bonds[:, ::-1].reshape(-1)
    graph = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst.copy())), num_nodes=int(n_atoms.sum()),
                      idtype=torch.int32)  # dgllife's graphs are int32 too
    graph.set_batch_num_nodes(torch.from_numpy(n_atoms.astype(np.int32)))
    graph.set_batch_num_edges(torch.from_numpy((2 * n_bonds).astype(np.int32)))
    graph.ndata[ATOM_FIELD] = torch.from_numpy(np.concatenate([r.node_feats for r in records]).astype(np.float32, copy=False))
    graph.edata[BOND_FIELD] = torch.from_numpy(np.repeat(np.concatenate([r.bond_feats for r in records]), 2, axis=0)
                                               .astype(np.float32, copy=False))
    graph.ndata[DISTANCE_FIELD] = torch.from_numpy(pad_rows([r.distance_matrix() for r in records]))
    labels = np.stack([r.labels for r in records]).astype(np.float32, copy=False)
    mask = ~np.isnan(labels)
    return GraphBatch(graph, torch.from_numpy(np.stack([r.fingerprints for r in records]).astype(np.float32, copy=False)),
                      torch.from_numpy(np.where(mask, labels, 0).astype(np.float32)), torch.from_numpy(mask),
                      torch.from_numpy(np.fromiter((r.row for r in records), dtype=np.int64, count=len(records))),
                      [r.smiles for r in records])


class _Shard:
    """The arrays of one shard folder, memory-mapped on first use."""

    def __init__(self, path: Path, fingerprints: list[str]) -> None:
        self.path = path
        self.fingerprint_names = fingerprints
        self.rows = np.load(path / "rows.npy")
        self.labels = np.load(path / "labels.npy")
        self._arrays: dict[str, np.ndarray] | None = None

    def smiles(self) -> list[str]:
        text = (self.path / SMILES_FILE).read_text(encoding="utf-8")
        return text.split("\n")[:-1] if text else []

    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            names = ["node_feats", "atom_offsets", "bonds", "bond_feats", "bond_offsets", *self.fingerprint_names]
            if (self.path / f"{DISTANCES}.npy").is_file():  # shards written before distances were stored lack it
                names.append(DISTANCES)
            # plain ndarray views of the maps: np.memmap's per-slice bookkeeping would cost more than the reads
            self._arrays = {n: np.asarray(np.load(self.path / f"{n}.npy", mmap_mode="r")) for n in names}
            if DISTANCES in self._arrays:
                self._arrays["distance_offsets"] = distance_offsets(np.diff(self._arrays["atom_offsets"]))
        return self._arrays

    def fingerprints(self, i: int) -> np.ndarray:
        arrays = self.arrays()
        parts = []
        for name in self.fingerprint_names:
            value = arrays[name][i]
            if name in BIT_FINGERPRINTS:
                value = np.unpackbits(value, count=FINGERPRINT_SIZES[name])
            parts.append(value.astype(np.float32))
        return np.concatenate(parts)

    def record(self, i: int, smiles: str) -> MoleculeRecord:
        a = self.arrays()
        atoms = slice(a["atom_offsets"][i], a["atom_offsets"][i + 1])
        bonds = slice(a["bond_offsets"][i], a["bond_offsets"][i + 1])
        distances = None
        if DISTANCES in a:
            n_atoms = atoms.stop - atoms.start
            distances = a[DISTANCES][a["distance_offsets"][i]:a["distance_offsets"][i + 1]].reshape(n_atoms, n_atoms)
        return MoleculeRecord(int(self.rows[i]), smiles, np.asarray(a["node_feats"][atoms]), np.asarray(a["bonds"][bonds]),
                              np.asarray(a["bond_feats"][bonds]), self.fingerprints(i), self.labels[i], distances)


class FeaturizedDataset(torch.utils.data.Dataset):
    """The molecules of a featurize directory in input order; ``ds[i]`` is a ``MoleculeRecord``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = Manifest.read(self.path, kind=MANIFEST_KIND)
        extra = self.manifest.extra
        self.task_names: list[str] = list(extra["task_names"])
        self.fingerprint_names: list[str] = list(extra["fingerprints"])
        self.node_feat_dim: int = int(extra["node_feat_dim"])
        self.edge_feat_dim: int = int(extra["edge_feat_dim"])
        self.fingerprint_dim: int = int(extra["fingerprint_dim"])
        self._shards = []
        for name in extra["shards"]:
            folder = self.path / SHARDS_DIR / name
            if not (folder / SHARD_META).is_file():
                raise ArtifactError(f"{self.path}: shard {name} is missing or incomplete")
            self._shards.append(_Shard(folder, self.fingerprint_names))
        sizes = np.array([len(s.rows) for s in self._shards], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes)])
        self.rows: np.ndarray = np.concatenate([s.rows for s in self._shards]) if self._shards else np.zeros(0, np.int64)
        self.labels: np.ndarray = (np.concatenate([s.labels for s in self._shards]) if self._shards
                                   else np.zeros((0, len(self.task_names)), np.float32))
        self.smiles: list[str] = [smiles for s in self._shards for smiles in s.smiles()]

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> MoleculeRecord:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} molecules")
        shard = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self._shards[shard].record(index - int(self._starts[shard]), self.smiles[index])

    def positions_of_rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Dataset positions of input rows (split files hold rows); a row without a molecule is an error."""
        lookup = {int(r): i for i, r in enumerate(self.rows)}
        missing = [int(r) for r in rows if int(r) not in lookup]
        if missing:
            raise KeyError(f"{self.path}: row(s) {missing[:5]} have no featurized molecule (invalid or not in this input)")
        return np.array([lookup[int(r)] for r in rows], dtype=np.int64)


def distance_offsets(atom_counts: np.ndarray) -> np.ndarray:
    """(n + 1,) int64 start of each molecule's block in a shard's distances, from its atom counts."""
    return np.concatenate([[0], np.cumsum(np.asarray(atom_counts, dtype=np.int64) ** 2)])


def read_shard_meta(folder: Path) -> dict | None:
    """A complete shard's metadata, or None when the folder is missing or was left half-written."""
    try:
        return json.loads((folder / SHARD_META).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
