"""Atom and bond featurizers: dgllife's AttentiveFP features (default) and the reference's 57/15 dims.

Each featurizer fills a NumPy array straight from RDKit (``features(mol)``: one row per atom, or
one row per bond), and is also a dgllife-style callable (``featurizer(mol) -> {field: tensor}``,
bond rows repeated for both directions) with ``feat_size()``, so it plugs into dgllife's
``smiles_to_bigraph``. ``AttentiveFPAtoms``/``AttentiveFPBonds`` give exactly what dgllife's
``AttentiveFPAtomFeaturizer``/``AttentiveFPBondFeaturizer`` give (tests/featurize/test_graphs.py)
at about 2.5x the speed, which matters at 352k molecules.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rdkit import Chem

ATOM_FIELD = "h"
BOND_FIELD = "e"

_HYB = Chem.rdchem.HybridizationType
_BOND = Chem.rdchem.BondType
_STEREO = Chem.rdchem.BondStereo
_DIR = Chem.rdchem.BondDir
_IMPLICIT = Chem.ValenceType.IMPLICIT

# dgllife's AttentiveFP / the reference's element list; anything else is the 16th slot, "other"
_ELEMENTS = {s: i for i, s in enumerate(["B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "As", "Se", "Br", "Te", "I", "At"])}
_HYBRIDIZATIONS = {h: i for i, h in enumerate([_HYB.SP, _HYB.SP2, _HYB.SP3, _HYB.SP3D, _HYB.SP3D2])}  # else slot 5
_BOND_TYPES = {b: i for i, b in enumerate([_BOND.SINGLE, _BOND.DOUBLE, _BOND.TRIPLE, _BOND.AROMATIC])}
_ATTENTIVEFP_STEREO = {s: i for i, s in enumerate([_STEREO.STEREONONE, _STEREO.STEREOANY, _STEREO.STEREOZ, _STEREO.STEREOE])}
_PAPER_STEREO = {s: i for i, s in enumerate([_STEREO.STEREONONE, _STEREO.STEREOANY, _STEREO.STEREOZ, _STEREO.STEREOE,
                                             _STEREO.STEREOCIS, _STEREO.STEREOTRANS])}
# The reference's pharmacophore flags: H-bond acceptor, donor, acidic group, basic group.
_PAPER_PHARMACOPHORE_SMARTS = (
    "[$([O,S;H1;v2;!$(*-*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),$([N;v3;!$(N-*=[O,N,P,S])]),"
    "n&H0&+0,$([o,s;+0;!$([o,s]:n);!$([o,s]:c:n)])]",
    "[$([N;!H0;v3,v4&+1]),$([O,S;H1;+0]),n&H1&+0]",
    "[$([C,S](=[O,S,P])-[O;H1,-1])]",
    "[#7;+,$([N;H2&+0][$([C,a]);!$([C,a](=O))]),$([N;H1&+0]([$([C,a]);!$([C,a](=O))])[$([C,a]);"
    "!$([C,a](=O))]),$([N;H0&+0]([C;!$(C(=O))])([C;!$(C(=O))])[C;!$(C(=O))])]",
)


def _fill_shared_atom_columns(row: np.ndarray, atom: Chem.Atom) -> None:
    """Columns 0-30, the same in AttentiveFP's and the reference's atom vectors: element 16 |
    degree 0-5 | formal charge | radical electrons | hybridisation 6 | aromatic."""
    row[_ELEMENTS.get(atom.GetSymbol(), 15)] = 1
    degree = atom.GetDegree()
    if degree < 6:
        row[16 + degree] = 1
    row[22] = atom.GetFormalCharge()
    row[23] = atom.GetNumRadicalElectrons()
    row[24 + _HYBRIDIZATIONS.get(atom.GetHybridization(), 5)] = 1
    row[30] = atom.GetIsAromatic()


class _Featurizer:
    """dgllife's featurizer protocol (``feat_size``, call -> {field: tensor}) over a NumPy ``features``."""

    size = 0

    def feat_size(self, feat_name: str | None = None) -> int:
        return self.size

    def features(self, mol: Chem.Mol) -> np.ndarray:
        raise NotImplementedError


class _AtomFeaturizer(_Featurizer):
    def __init__(self, atom_data_field: str = ATOM_FIELD) -> None:
        self.atom_data_field = atom_data_field

    def __call__(self, mol: Chem.Mol) -> dict:
        import torch

        return {self.atom_data_field: torch.from_numpy(self.features(mol))}


class _BondFeaturizer(_Featurizer):
    def __init__(self, bond_data_field: str = BOND_FIELD) -> None:
        self.bond_data_field = bond_data_field

    def __call__(self, mol: Chem.Mol) -> dict:
        """Both directions of every bond, like dgllife; no key for a molecule without bonds, like dgllife."""
        import torch

        rows = self.features(mol)
        return {self.bond_data_field: torch.from_numpy(np.repeat(rows, 2, axis=0))} if len(rows) else {}


class AttentiveFPAtoms(_AtomFeaturizer):
    """dgllife's AttentiveFP atom features (39): element 16 | degree 0-5 | formal charge | radical electrons
    | hybridisation 6 | aromatic | total H 0-4 | chirality possible | CIP code R, S."""

    size = 39

    def features(self, mol: Chem.Mol) -> np.ndarray:
        out = np.zeros((mol.GetNumAtoms(), self.size), dtype=np.float32)
        for i, atom in enumerate(mol.GetAtoms()):
            row = out[i]
            _fill_shared_atom_columns(row, atom)
            hydrogens = atom.GetTotalNumHs()
            if hydrogens < 5:
                row[31 + hydrogens] = 1
            row[36] = atom.HasProp("_ChiralityPossible")
            if atom.HasProp("_CIPCode"):
                code = atom.GetProp("_CIPCode")
                if code in ("R", "S"):
                    row[37 if code == "R" else 38] = 1
        return out


class AttentiveFPBonds(_BondFeaturizer):
    """dgllife's AttentiveFP bond features (10): single, double, triple, aromatic | conjugated | in ring
    | stereo NONE, ANY, Z, E."""

    size = 10

    def features(self, mol: Chem.Mol) -> np.ndarray:
        out = np.zeros((mol.GetNumBonds(), self.size), dtype=np.float32)
        for i, bond in enumerate(mol.GetBonds()):
            row = out[i]
            kind = _BOND_TYPES.get(bond.GetBondType())
            if kind is not None:
                row[kind] = 1
            row[4] = bond.GetIsConjugated()
            row[5] = bond.IsInRing()
            stereo = _ATTENTIVEFP_STEREO.get(bond.GetStereo())
            if stereo is not None:
                row[6 + stereo] = 1
        return out


class PaperAtoms(_AtomFeaturizer):
    """The reference implementation's 57-dim atom vector.

    element 16 (0-15) | degree 0-5 (16-21) | formal charge (22) | radical electrons (23) | hybridisation 6
    (24-29) | aromatic (30) | total H 0-4, more counts as 4 (31-35) | in ring (36) | in ring of size
    3, 4, 5, 6 (37-40) | chiral tag 0-3 (41-44) | mass / 100 (45) | implicit valence 0-6 (46-52)
    | H-bond acceptor, donor, acidic, basic (53-56)
    """

    size = 57

    def __init__(self, atom_data_field: str = ATOM_FIELD) -> None:
        super().__init__(atom_data_field)
        self._patterns = [Chem.MolFromSmarts(s) for s in _PAPER_PHARMACOPHORE_SMARTS]

    def features(self, mol: Chem.Mol) -> np.ndarray:
        out = np.zeros((mol.GetNumAtoms(), self.size), dtype=np.float32)
        for flag, pattern in enumerate(self._patterns):
            for match in mol.GetSubstructMatches(pattern):
                out[list(match), 53 + flag] = 1
        ring_info = mol.GetRingInfo()
        for i, atom in enumerate(mol.GetAtoms()):
            row = out[i]
            _fill_shared_atom_columns(row, atom)
            row[31 + min(atom.GetTotalNumHs(), 4)] = 1
            row[36] = atom.IsInRing()
            for slot, size in enumerate((3, 4, 5, 6)):
                row[37 + slot] = ring_info.IsAtomInRingOfSize(i, size)
            chiral = int(atom.GetChiralTag())
            if chiral < 4:
                row[41 + chiral] = 1
            row[45] = atom.GetMass() * 0.01
            valence = atom.GetValence(_IMPLICIT)
            if valence < 7:
                row[46 + valence] = 1
        return out


class PaperBonds(_BondFeaturizer):
    """The reference implementation's 15-dim bond vector.

    no-bond flag, 0 for a real bond (0) | single, double, triple, aromatic (1-4) | direction ENDUPRIGHT,
    ENDDOWNRIGHT (5-6) | conjugated (7) | in ring (8) | stereo NONE, ANY, Z, E, CIS, TRANS (9-14)
    """

    size = 15

    def features(self, mol: Chem.Mol) -> np.ndarray:
        out = np.zeros((mol.GetNumBonds(), self.size), dtype=np.float32)
        for i, bond in enumerate(mol.GetBonds()):
            row = out[i]
            kind = _BOND_TYPES.get(bond.GetBondType())
            if kind is not None:
                row[1 + kind] = 1
            direction = bond.GetBondDir()
            row[5] = direction == _DIR.ENDUPRIGHT
            row[6] = direction == _DIR.ENDDOWNRIGHT
            row[7] = bond.GetIsConjugated()
            row[8] = bond.IsInRing()
            stereo = _PAPER_STEREO.get(bond.GetStereo())
            if stereo is not None:
                row[9 + stereo] = 1
        return out


ATOM_FEATURIZERS = ("attentivefp", "paper")


@lru_cache(maxsize=None)
def get_featurizers(name: str) -> tuple[_AtomFeaturizer, _BondFeaturizer]:
    """``(atom_featurizer, bond_featurizer)`` for a name in ``ATOM_FEATURIZERS``; built once per process."""
    if name == "attentivefp":
        return AttentiveFPAtoms(), AttentiveFPBonds()
    if name == "paper":
        return PaperAtoms(), PaperBonds()
    raise ValueError(f"unknown atom featurizer {name!r}; choose one of {', '.join(ATOM_FEATURIZERS)}")


def feature_dims(name: str) -> tuple[int, int]:
    atoms, bonds = get_featurizers(name)
    return atoms.size, bonds.size


def mol_graph_arrays(mol: Chem.Mol, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(node_feats (n_atoms, d_atom), bonds (n_bonds, 2) int32, bond_feats (n_bonds, d_bond))``, one row per bond.

    Atoms are renumbered as dgllife's ``smiles_to_bigraph`` does by default (canonical atom order),
    so our graphs equal dgllife's. Bonds are stored once; ``collate`` adds both directions in dgllife's order.
    """
    atom_featurizer, bond_featurizer = get_featurizers(name)
    mol = Chem.RenumberAtoms(mol, list(Chem.CanonicalRankAtoms(mol)))
    bonds = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()], dtype=np.int32).reshape(-1, 2)
    return atom_featurizer.features(mol), bonds, bond_featurizer.features(mol)
