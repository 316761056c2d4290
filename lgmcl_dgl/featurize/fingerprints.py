"""The reference's three fingerprints: MACCS (167 bits), PubChem (881 bits, on the molecule with
explicit H) and ErG (441 values), concatenated in that order into 1,489 dims.

PubChem comes from scikit-fingerprints, whose bit variant compiles its 618 SMARTS again for every
molecule and counts all matches. ``_PubChemBits`` keeps all of its code but answers the SMARTS part
with RDKit FilterCatalogs built once (first match only, the loop in C++), cut where the time goes:
- matched on the molecule without H: no pattern atom can be an H, and RDKit's H-count primitives
  count H neighbours, so the matches are the same on half the atoms;
- patterns grouped by their rarest element, a group skipped when the molecule lacks that element;
- each pattern's atoms renumbered to start at its rarest element, where RDKit's matcher starts.
That is about 1.7x less CPU time than one catalog on the molecule with H (itself ~3.5x faster than
scikit-fingerprints) and bit-for-bit the same (tests/featurize/test_fingerprints.py checks 1,000
real molecules against scikit-fingerprints). RDKit pattern fingerprints as a pre-screen do not pay:
they ignore the elements of these query atoms and pass ~345 of the 618 for ~130 matches.
scikit-fingerprints' Python part (element counts, ESSSR ring counts) also runs on the molecule without H:
H is counted with GetTotalNumHs, and ring counts are unchanged because added H atoms have degree 1 and
are never in a ring (GetSymmSSSR recomputes ``mol``'s ring info, the symmetrized SSSR that sanitization
already gave it). That saves AddHs: 1.60 -> 1.50 CPU ms per MOSES molecule (1.07x, benchmarks/featurize.py
fingerprints), identical bits and atom and ring counts on 21,375 molecules (BBBP, BACE, Tox21, 10,000 MOSES).

MACCS stays RDKit's C++ GenMACCSKeys: RDKit's MACCS SMARTS in element-gated FilterCatalogs (counted
keys by match count, 125 and 166 as RDKit does) gave identical bits on those 21,375 molecules but 1.21
against 0.84 CPU ms per MOSES molecule: almost every pattern is gated by C, N, O or none, so the gates
skip little of RDKit's one C++ loop, and the costliest keys (101, 8- to 14-membered rings, about a fifth
of the matching; the other ring-size keys) run either way.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import MACCSkeys, rdReducedGraphs
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogEntry, SmartsMatcher
from skfp.fingerprints import PubChemFingerprint
from skfp.fingerprints.pubchem.features import (COMPLEX_SMARTS_PATTERNS, DETAILED_ATOM_NEIGHBORHOODS,
                                                SIMPLE_ATOM_NEIGHBORHOODS, SIMPLE_ATOM_PAIRS,
                                                SIMPLE_SMARTS_PATTERNS)

FINGERPRINT_SIZES = {"maccs": 167, "pubchem": 881, "erg": 441}
BIT_FINGERPRINTS = ("maccs", "pubchem")  # stored packed 8 per byte; ErG values are floats
ERG_SETTINGS = {"fuzzIncrement": 0.3, "maxPath": 21, "minPath": 1}
# the SMARTS lists scikit-fingerprints matches, in its order of bits
_SMARTS_LISTS = (SIMPLE_ATOM_PAIRS, SIMPLE_ATOM_NEIGHBORHOODS, DETAILED_ATOM_NEIGHBORHOODS, SIMPLE_SMARTS_PATTERNS,
                 COMPLEX_SMARTS_PATTERNS)


def _commonness(atomic_num: int) -> int:
    """Rank of an element by how common it is in organic molecules; 0 (no single element) last."""
    return {7: 1, 8: 2, 6: 3, 0: 4}.get(atomic_num, 0)


def _search_order(query: Chem.Mol) -> Chem.Mol:
    """The same query, atoms renumbered breadth-first from its rarest element: RDKit's matcher grows
    matches in query atom order, so a molecule without that element is rejected at the first atom."""
    def key(i: int) -> tuple[int, int]:
        atom = query.GetAtomWithIdx(i)
        return _commonness(atom.GetAtomicNum()), -atom.GetDegree()

    order = [min(range(query.GetNumAtoms()), key=key)]
    for i in order:  # the loop also visits the atoms it appends: breadth-first
        order += sorted({n.GetIdx() for n in query.GetAtomWithIdx(i).GetNeighbors()} - set(order), key=key)
    return Chem.RenumberAtoms(query, order)


class _PubChemBits(PubChemFingerprint):
    """scikit-fingerprints' PubChem bits; ``bits`` answers all 618 SMARTS first (see above)."""

    def __init__(self) -> None:
        super().__init__(count=False)
        self._starts: dict[int, tuple[list[str], int]] = {}  # id(list) -> (list, its first pattern's position)
        queries: list[Chem.Mol] = []
        for smarts_list in _SMARTS_LISTS:
            self._starts[id(smarts_list)] = (smarts_list, len(queries))
            queries += [_search_order(Chem.MolFromSmarts(smarts)) for smarts in smarts_list]
        # RDKit gives a query atom an atomic number only where it requires that element ([#6&!H0]: 6,
        # [#6,#7]: 0), so a pattern cannot match a molecule without its gate element; gate 0: no such atom
        groups: dict[int, FilterCatalog] = {}
        for i, query in enumerate(queries):  # an entry's description is its position among all 618
            gate = min((atom.GetAtomicNum() for atom in query.GetAtoms()), key=_commonness)
            entry = FilterCatalogEntry(str(i), SmartsMatcher(str(i), query, 1))
            groups.setdefault(gate, FilterCatalog()).AddEntry(entry)
        self._groups = list(groups.items())
        self._size = len(queries)
        self._hits: list[int] | None = None  # the 618 answers for the molecule ``bits`` is working on

    def bits(self, mol: Chem.Mol) -> np.ndarray:
        """The bits scikit-fingerprints gives for ``Chem.AddHs(mol)``, all computed on ``mol`` (see above)."""
        present = {atom.GetAtomicNum() for atom in mol.GetAtoms()}
        hits = [0] * self._size
        for element, catalog in self._groups:
            if element in present or element == 0:
                for entry in catalog.GetMatches(mol):
                    hits[int(entry.GetDescription())] = 1
        self._hits = hits
        try:
            return self._get_pubchem_fingerprint(mol)
        finally:
            self._hits = None

    def _get_atom_counts(self, mol: Chem.Mol) -> dict[str, int]:
        """Element counts of ``Chem.AddHs(mol)``: AddHs gives each atom GetTotalNumHs() H atoms and leaves
        it no implicit H, so H is counted from the atoms of ``mol``."""
        counts: dict[str, int] = defaultdict(int)
        for atom in mol.GetAtoms():
            counts[atom.GetSymbol()] += 1
            counts["H"] += atom.GetTotalNumHs()
        return counts

    def _get_smarts_match_counts(self, mol: Chem.Mol, smarts_list: list[str]) -> list[int]:
        """1 where the pattern matches at least once: all the bit variant uses of the count."""
        same_list, start = self._starts[id(smarts_list)]
        assert same_list is smarts_list and self._hits is not None
        return self._hits[start:start + len(smarts_list)]


@lru_cache(maxsize=1)
def _pubchem() -> _PubChemBits:
    return _PubChemBits()


def maccs_bits(mol: Chem.Mol) -> np.ndarray:
    """RDKit's MACCS keys of ``mol`` as given (key 0 and key 1, isotope, always 0)."""
    bits = np.zeros(167, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), bits)
    return bits


def pubchem_bits(mol: Chem.Mol) -> np.ndarray:
    """PubChem bits of ``mol`` with explicit hydrogens, as the reference computes them."""
    return _pubchem().bits(mol).astype(np.uint8, copy=False)


def erg_values(mol: Chem.Mol) -> np.ndarray:
    return np.asarray(rdReducedGraphs.GetErGFingerprint(mol, **ERG_SETTINGS), dtype=np.float32)


_COMPUTE = {"maccs": maccs_bits, "pubchem": pubchem_bits, "erg": erg_values}


def check_fingerprint_names(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in FINGERPRINT_SIZES]
    if unknown or not names:
        raise ValueError(f"unknown fingerprint(s) {unknown or names}; choose from {', '.join(FINGERPRINT_SIZES)}")
    return tuple(names)


def compute_fingerprints(mol: Chem.Mol, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {name: _COMPUTE[name](mol) for name in names}


def fingerprint_layout(names: tuple[str, ...]) -> dict[str, list[int]]:
    """Each fingerprint's ``[start, stop)`` columns in the concatenated vector."""
    layout, start = {}, 0
    for name in names:
        layout[name] = [start, start + FINGERPRINT_SIZES[name]]
        start += FINGERPRINT_SIZES[name]
    return layout
