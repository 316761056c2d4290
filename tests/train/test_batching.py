"""Size-aware batches: every molecule once, within the budget, reproducible, and far less padding."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem, RDLogger

from lgmcl_dgl.train.batching import PAIR_ATOMS, inference_batches, padding_efficiency, plain_batches, sized_batches
from lgmcl_dgl.train.loop import EpochBatches


@pytest.fixture(scope="module")
def bbbp_atoms(moleculenet) -> np.ndarray:
    """Heavy atoms of every parsable BBBP molecule (what the featurizer makes nodes of)."""
    import pandas as pd

    RDLogger.DisableLog("rdApp.*")
    molecules = (Chem.MolFromSmiles(s) for s in pd.read_csv(moleculenet / "BBBP.csv")["smiles"])
    return np.array([m.GetNumAtoms() for m in molecules if m is not None and m.GetNumAtoms()], dtype=np.int64)


def within_budget(batch: np.ndarray, counts: np.ndarray, budget: int) -> bool:
    largest = int(counts[batch].max())
    return len(batch) * largest * max(largest, PAIR_ATOMS) <= budget * PAIR_ATOMS


def test_every_molecule_once_within_budget_and_cap(bbbp_atoms):
    for epoch in range(3):
        batches = sized_batches(bbbp_atoms, 64, 2048, seed=1, epoch=epoch)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(bbbp_atoms)))
        assert all(1 <= len(b) <= 64 for b in batches)
        assert all(within_budget(b, bbbp_atoms, 2048) or len(b) == 1 for b in batches)


def test_batches_are_a_function_of_seed_and_epoch(bbbp_atoms):
    def plan(seed, epoch):
        return [b.tolist() for b in sized_batches(bbbp_atoms, 64, 4096, seed, epoch)]

    assert plan(0, 0) == plan(0, 0)
    assert plan(0, 0) != plan(0, 1) and plan(0, 0) != plan(1, 0)


def test_padding_efficiency_rises_on_real_molecules(bbbp_atoms):
    plain = padding_efficiency(bbbp_atoms, plain_batches(len(bbbp_atoms), 64, 0, 0, True, False, 1))
    sized = padding_efficiency(bbbp_atoms, sized_batches(bbbp_atoms, 64, 4096, 0, 0))
    assert sized > 0.85 and sized > 2 * plain


def test_a_molecule_over_the_budget_gets_a_batch_of_its_own_never_dropped():
    counts = np.array([10] * 30 + [492] + [12] * 30)
    batches = sized_batches(counts, 64, 4096, seed=0, epoch=0)
    assert [b.tolist() for b in batches if 30 in b] == [[30]]
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(counts)))
    # two processes: each takes one of a pair of giants, nothing is left over for a lone rank
    giants = np.array([10] * 7 + [492] * 3)
    shared = sized_batches(giants, 8, 4096, seed=0, epoch=0, min_items=2)
    assert all(len(b) >= 2 for b in shared)
    assert sorted(np.concatenate(shared).tolist()) == list(range(10))


def test_epoch_batches_with_a_budget_split_over_processes_in_equal_shares(bbbp_atoms):
    counts = bbbp_atoms[:301]
    whole = EpochBatches(len(counts), 32, seed=4, atom_counts=counts, atom_budget=1024)
    ranks = [EpochBatches(len(counts), 32, seed=4, rank=r, world_size=2, atom_counts=counts, atom_budget=1024)
             for r in (0, 1)]
    shared = ranks[0].global_batches(2)
    assert all(len(b) % 2 == 0 for b in shared)  # all_gather in the contrastive loss needs equal shares
    assert len(np.concatenate(shared)) == 300  # the one molecule that cannot be shared sits out this epoch
    assert [a + b for a, b in zip(*(r.local_batches(2) for r in ranks), strict=True)] == [b.tolist() for b in shared]
    assert sorted(i for batch in whole.local_batches(2) for i in batch) == list(range(len(counts)))
    assert whole.count(2) == len(whole.global_batches(2))


def test_inference_batches_sort_by_size_and_keep_ties_in_order():
    counts = np.array([5, 30, 5, 7, 30, 5])
    batches = inference_batches(counts, 2, 4096)
    assert [b.tolist() for b in batches] == [[0, 2], [5, 3], [1, 4]]
