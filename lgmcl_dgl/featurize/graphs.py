"""Atom and bond featurizers: dgllife's AttentiveFP ones (default) and the reference's 57/15-dim ones.

Every featurizer is a dgllife-style callable ``mol -> {field: tensor}`` with ``feat_size()``;
bond featurizers give one row per bond direction (dgllife's order: u->v, v->u for each bond).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from dgllife.utils import (
    AttentiveFPAtomFeaturizer,
    AttentiveFPBondFeaturizer,
    atom_chiral_tag_one_hot,
    atom_degree_one_hot,
    atom_formal_charge,
    atom_hybridization_one_hot,
    atom_is_aromatic,
    atom_is_in_ring,
    atom_mass,
    atom_num_radical_electrons,
    atom_type_one_hot,
    bond_is_conjugated,
    bond_is_in_ring,
    bond_stereo_one_hot,
    bond_type_one_hot,
    one_hot_encoding,
)
from rdkit import Chem

ATOM_FIELD = "h"
BOND_FIELD = "e"

_PAPER_ELEMENTS = ["B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "As", "Se", "Br", "Te", "I", "At"]
_PAPER_HYBRIDIZATIONS = [Chem.rdchem.HybridizationType.SP, Chem.rdchem.HybridizationType.SP2,
                         Chem.rdchem.HybridizationType.SP3, Chem.rdchem.HybridizationType.SP3D,
                         Chem.rdchem.HybridizationType.SP3D2]
_PAPER_BOND_TYPES = [Chem.rdchem.BondType.SINGLE, Chem.rdchem.BondType.DOUBLE,
                     Chem.rdchem.BondType.TRIPLE, Chem.rdchem.BondType.AROMATIC]
_PAPER_BOND_STEREO = [Chem.rdchem.BondStereo.STEREONONE, Chem.rdchem.BondStereo.STEREOANY,
                      Chem.rdchem.BondStereo.STEREOZ, Chem.rdchem.BondStereo.STEREOE,
                      Chem.rdchem.BondStereo.STEREOCIS, Chem.rdchem.BondStereo.STEREOTRANS]
# Pharmacophore flags of the reference: H-bond acceptor, donor, acidic group, basic group.
_PAPER_PHARMACOPHORE_SMARTS = (
    "[$([O,S;H1;v2;!$(*-*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),$([N;v3;!$(N-*=[O,N,P,S])]),"
    "n&H0&+0,$([o,s;+0;!$([o,s]:n);!$([o,s]:c:n)])]",
    "[$([N;!H0;v3,v4&+1]),$([O,S;H1;+0]),n&H1&+0]",
    "[$([C,S](=[O,S,P])-[O;H1,-1])]",
    "[#7;+,$([N;H2&+0][$([C,a]);!$([C,a](=O))]),$([N;H1&+0]([$([C,a]);!$([C,a](=O))])[$([C,a]);"
    "!$([C,a](=O))]),$([N;H0&+0]([C;!$(C(=O))])([C;!$(C(=O))])[C;!$(C(=O))])]",
)


class PaperAtomFeaturizer:
    """The reference implementation's 57-dim atom vector (see docs/featurize.md for the layout).

    element (15 + other) | degree 0-5 | formal charge | radical electrons | hybridisation (5 + other)
    | aromatic | total H 0-4 (more counts as 4) | in ring | in ring of size 3,4,5,6 | chiral tag 0-3
    | mass / 100 | implicit valence 0-6 | acceptor, donor, acidic, basic
    """

    def __init__(self, atom_data_field: str = ATOM_FIELD) -> None:
        self.atom_data_field = atom_data_field
        self._patterns = [Chem.MolFromSmarts(s) for s in _PAPER_PHARMACOPHORE_SMARTS]

    def feat_size(self) -> int:
        return 57

    def __call__(self, mol: Chem.Mol) -> dict[str, torch.Tensor]:
        flags = [{i for match in mol.GetSubstructMatches(p) for i in match} for p in self._patterns]
        ring_info = mol.GetRingInfo()
        rows = []
        for atom in mol.GetAtoms():
            index = atom.GetIdx()
            rows.append(
                atom_type_one_hot(atom, _PAPER_ELEMENTS, encode_unknown=True)
                + atom_degree_one_hot(atom, list(range(6)))
                + atom_formal_charge(atom)
                + atom_num_radical_electrons(atom)
                + atom_hybridization_one_hot(atom, _PAPER_HYBRIDIZATIONS, encode_unknown=True)
                + atom_is_aromatic(atom)
                + one_hot_encoding(min(atom.GetTotalNumHs(), 4), list(range(5)))
                + atom_is_in_ring(atom)
                + [ring_info.IsAtomInRingOfSize(index, size) for size in (3, 4, 5, 6)]
                + atom_chiral_tag_one_hot(atom)
                + atom_mass(atom)
                + one_hot_encoding(atom.GetValence(Chem.ValenceType.IMPLICIT), list(range(7)))
                + [index in found for found in flags]
            )
        return {self.atom_data_field: torch.tensor(np.asarray(rows, dtype=np.float32))}


class PaperBondFeaturizer:
    """The reference implementation's 15-dim bond vector, one row per bond direction.

    no-bond flag (always 0 for a real bond) | single, double, triple, aromatic | bond direction
    ENDUPRIGHT, ENDDOWNRIGHT | conjugated | in ring | stereo 0-5 (NONE, ANY, Z, E, CIS, TRANS)
    """

    def __init__(self, bond_data_field: str = BOND_FIELD) -> None:
        self.bond_data_field = bond_data_field

    def feat_size(self) -> int:
        return 15

    def __call__(self, mol: Chem.Mol) -> dict[str, torch.Tensor]:
        rows = []
        for bond in mol.GetBonds():
            direction = bond.GetBondDir()
            row = ([False] + bond_type_one_hot(bond, _PAPER_BOND_TYPES)
                   + [direction == Chem.rdchem.BondDir.ENDUPRIGHT, direction == Chem.rdchem.BondDir.ENDDOWNRIGHT]
                   + bond_is_conjugated(bond) + bond_is_in_ring(bond)
                   + bond_stereo_one_hot(bond, _PAPER_BOND_STEREO))
            rows += [row, row]
        return {self.bond_data_field: torch.tensor(np.asarray(rows, dtype=np.float32).reshape(-1, 15))}


ATOM_FEATURIZERS = ("attentivefp", "paper")


@lru_cache(maxsize=None)
def get_featurizers(name: str):
    """``(atom_featurizer, bond_featurizer)`` for a name in ``ATOM_FEATURIZERS``; built once per process."""
    if name == "attentivefp":
        return AttentiveFPAtomFeaturizer(atom_data_field=ATOM_FIELD), AttentiveFPBondFeaturizer(bond_data_field=BOND_FIELD)
    if name == "paper":
        return PaperAtomFeaturizer(), PaperBondFeaturizer()
    raise ValueError(f"unknown atom featurizer {name!r}; choose one of {', '.join(ATOM_FEATURIZERS)}")


def feature_dims(name: str) -> tuple[int, int]:
    atoms, bonds = get_featurizers(name)
    return atoms.feat_size(), bonds.feat_size()


def mol_graph_arrays(mol: Chem.Mol, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(node_feats (n_atoms, d_atom), bonds (n_bonds, 2) int32, bond_feats (n_bonds, d_bond))``, one row per bond.

    Atoms are renumbered as dgllife's ``smiles_to_bigraph`` does by default (canonical atom order),
    so our graphs equal dgllife's. Bonds are stored once; ``collate`` adds both directions in dgllife's order.
    """
    atom_featurizer, bond_featurizer = get_featurizers(name)
    mol = Chem.RenumberAtoms(mol, list(Chem.CanonicalRankAtoms(mol)))
    node_feats = atom_featurizer(mol)[ATOM_FIELD].numpy().astype(np.float32, copy=False)
    n_bonds = mol.GetNumBonds()
    bonds = np.asarray([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()], dtype=np.int32).reshape(n_bonds, 2)
    if n_bonds:
        bond_feats = bond_featurizer(mol)[BOND_FIELD].numpy()[::2].astype(np.float32)
    else:
        bond_feats = np.zeros((0, bond_featurizer.feat_size()), dtype=np.float32)
    return node_feats, bonds, bond_feats
