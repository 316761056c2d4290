"""Hop distances between the atoms of a molecule, computed once per molecule instead of per batch.

The global encoder's distance bias needs every atom pair's shortest-path length along bonds. A
breadth-first search from each atom costs O(n (n + bonds)) per molecule; featurize stores the result
with the graphs and ``collate`` lays it out for the batch, so training steps only look it up.
Distances are stored uncapped up to 254 as uint8, so one featurization serves every
``max_distance`` (the model caps them when it reads them).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

DISTANCE_FIELD = "hops"  # ndata key of a collated graph: (atoms, widest molecule) uint8, see `pad_rows`
FAR = 255  # "different fragments, or 255 hops or more": any max_distance below it caps these to max_distance + 1


def hop_distances(n_atoms: int, edges: np.ndarray, directed: bool = False) -> np.ndarray:
    """(n_atoms, n_atoms) uint8 hop counts along ``edges`` ((E, 2) atom index pairs; both ways unless
    ``directed``); ``FAR`` between atoms that no path joins and for paths of ``FAR`` hops or more."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    adjacency = csr_matrix((np.ones(len(edges), dtype=np.float64), (edges[:, 0], edges[:, 1])), shape=(n_atoms, n_atoms))
    hops = shortest_path(adjacency, method="D", directed=directed, unweighted=True)  # inf where unreachable
    return np.minimum(hops, FAR).astype(np.uint8)


def pad_rows(blocks: list[np.ndarray]) -> np.ndarray:
    """Per-molecule (n_i, n_i) blocks -> (sum n_i, max n_i) uint8: atom v's row holds its distances to
    the atoms of its own molecule, then ``FAR`` up to the width of the widest molecule."""
    width = max((len(b) for b in blocks), default=0)
    rows = np.full((sum(len(b) for b in blocks), width), FAR, dtype=np.uint8)
    start = 0
    for block in blocks:
        rows[start:start + len(block), :len(block)] = block
        start += len(block)
    return rows
