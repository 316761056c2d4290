"""Which molecules share a batch: size-aware batches under a budget of padded atom slots.

The global encoder pads every molecule of a batch to the batch's largest, and its attention and
structure biases are dense over that size, so a random batch that holds one 400-atom molecule
costs (and holds in memory) as much as 64 of them. ``sized_batches`` groups molecules of similar
atom counts instead: the epoch's permutation is cut into windows of ``WINDOW_BATCHES`` batches,
each window is sorted by atom count and cut into batches whose padded size (molecules x largest
atom count) stays within ``atom_budget``, with ``batch_size`` as a cap, and the batches are then
shuffled. Attention and structure biases grow with atom pairs, so above ``PAIR_ATOMS`` atoms the
padded pairs are bounded too (molecules x largest^2 <= atom_budget x PAIR_ATOMS): memory per batch
stays flat however large the molecules. A molecule larger than the budget gets a batch of its own
(one per process), never dropped. Everything is a function of (seed, epoch) and the atom counts,
so a resumed run sees the same batches. ``plain_batches`` is the size-blind order of ``atom_budget=0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_ATOM_BUDGET = 4096  # padded atom slots per batch: 64 molecules of up to 64 atoms (docs/finetune.md)
WINDOW_BATCHES = 32  # batches' worth of molecules sorted together: larger packs tighter, smaller mixes more
PAIR_ATOMS = 64  # up to this size a batch is bounded by its padded atoms, above by its padded atom pairs


def plain_batches(n_items: int, batch_size: int, seed: int, epoch: int, shuffle: bool, drop_last: bool,
                  world_size: int) -> list[np.ndarray]:
    """Consecutive ``batch_size`` slices of a permutation seeded by (seed, epoch); a last batch with
    fewer molecules than processes (or any short one with ``drop_last``) is left out."""
    order = np.random.default_rng([seed, epoch]).permutation(n_items) if shuffle else np.arange(n_items)
    full, rest = divmod(n_items, batch_size)
    count = full + (1 if rest >= world_size and not drop_last else 0)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(count)]


def sized_batches(atom_counts: np.ndarray, batch_size: int, atom_budget: int, seed: int, epoch: int,
                  shuffle: bool = True, min_items: int = 1) -> list[np.ndarray]:
    """Batches of item indices, each holding a multiple of ``min_items`` (the processes sharing a
    batch: each takes an equal share) and at most ``batch_size``, with ``len(batch) * max atoms <=
    atom_budget`` (and, above ``PAIR_ATOMS`` atoms, ``len(batch) * max atoms ** 2 <= atom_budget *
    PAIR_ATOMS``) unless ``min_items`` of its molecules alone exceed it. Every item is in one batch,
    except, with several processes, the last ``len % min_items`` of the epoch's permutation (a
    different few each epoch), which cannot be shared equally."""
    counts = np.asarray(atom_counts, dtype=np.int64)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(counts)) if shuffle else np.arange(len(counts))
    order = order[:len(order) - len(order) % min_items]
    window = max(min_items, WINDOW_BATCHES * batch_size // min_items * min_items)
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        part = order[start:start + window]
        part = part[np.argsort(counts[part], kind="stable")]
        batches += _cut(part, counts[part], batch_size, atom_budget, min_items)
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _cut(items: np.ndarray, sizes: np.ndarray, batch_size: int, atom_budget: int, unit: int) -> list[np.ndarray]:
    """Greedy cut of items sorted by ascending size (a multiple of ``unit`` of them): a batch grows by
    ``unit`` items at a time while its padded cost fits."""
    cap = max(unit, batch_size - batch_size % unit)
    batches, start = [], 0
    for end in range(unit, len(items) + 1, unit):
        taken = end - start
        if taken > unit and (taken > cap or _over_budget(taken, int(sizes[end - 1]), atom_budget)):
            batches.append(items[start:end - unit])
            start = end - unit
    if start < len(items):
        batches.append(items[start:])
    return batches


def _over_budget(molecules: int, largest: int, atom_budget: int) -> bool:
    return molecules * largest * max(largest, PAIR_ATOMS) > atom_budget * PAIR_ATOMS


def padding_efficiency(atom_counts: np.ndarray, batches: Sequence[np.ndarray]) -> float:
    """Real atoms / padded atom slots over ``batches`` (1.0: no padding at all)."""
    counts = np.asarray(atom_counts, dtype=np.int64)
    real = sum(int(counts[b].sum()) for b in batches)
    padded = sum(len(b) * int(counts[b].max()) for b in batches if len(b))
    return real / padded if padded else 1.0


def inference_batches(atom_counts: np.ndarray, batch_size: int, atom_budget: int) -> list[np.ndarray]:
    """Batches for scoring: all items sorted by atom count (stable: an earlier order breaks ties),
    cut under the budget; the caller puts the outputs back in input order."""
    counts = np.asarray(atom_counts, dtype=np.int64)
    order = np.argsort(counts, kind="stable")
    return _cut(order, counts[order], batch_size, atom_budget, 1) if len(order) else []


def featurized_atom_counts(dataset) -> np.ndarray:
    """Atoms of every molecule of a ``FeaturizedDataset``, from its shards' atom offsets: no record is built."""
    from lgmcl_dgl.featurize.dataset import SHARDS_DIR

    parts = [np.diff(np.load(dataset.path / SHARDS_DIR / name / "atom_offsets.npy", mmap_mode="r"))
             for name in dataset.manifest.extra["shards"]]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
