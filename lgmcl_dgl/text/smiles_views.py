"""Randomised SMILES: other spellings of the same molecule, a cheap augmentation for the SMILES encoder.

Views are reproducible from ``(seed, row)`` alone, so they do not depend on sharding, ``--jobs`` or
resumption, and each view is checked to parse back to the molecule's canonical SMILES.
"""

from __future__ import annotations

from rdkit import Chem

_SEED_MODULUS = 2**31 - 2
_ATTEMPTS = 3


def view_seed(seed: int, row: int, attempt: int = 0) -> int:
    """Per-molecule seed; never 0, which RDKit reads as 'seed from the clock'."""
    return (seed * 1_000_003 + row * 7_919 + attempt) % _SEED_MODULUS + 1


def randomised_smiles(mol: Chem.Mol, n: int, seed: int, row: int, canonical: str | None = None) -> list[str]:
    """``n`` non-canonical SMILES of ``mol``; distinct where the molecule has that many spellings.

    A molecule with fewer spellings (methane has one) repeats the ones it has, so every molecule
    gets exactly ``n`` views.
    """
    if n <= 0:
        return []
    canonical = canonical or Chem.MolToSmiles(mol)
    views: list[str] = []
    seen = {canonical}
    for attempt in range(_ATTEMPTS):
        for view in Chem.MolToRandomSmilesVect(mol, 2 * n, randomSeed=view_seed(seed, row, attempt)):
            if view not in seen and _round_trips(view, canonical):
                seen.add(view)
                views.append(view)
                if len(views) == n:
                    return views
    pool = views or [canonical]
    return [pool[i % len(pool)] for i in range(n)]


def _round_trips(view: str, canonical: str) -> bool:
    mol = Chem.MolFromSmiles(view)
    return mol is not None and Chem.MolToSmiles(mol) == canonical
