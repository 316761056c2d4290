"""Atom/bond featurizers: dimensions, the reference's 57/15 layout, and agreement with dgllife."""

from __future__ import annotations

import numpy as np
import pytest
from dgllife.utils import AttentiveFPAtomFeaturizer, AttentiveFPBondFeaturizer, smiles_to_bigraph
from rdkit import Chem

from lgmcl_dgl.featurize.graphs import AttentiveFPAtoms, AttentiveFPBonds, PaperAtoms, PaperBonds, feature_dims, mol_graph_arrays


def test_dims():
    assert feature_dims("attentivefp") == (39, 10)
    assert feature_dims("paper") == (57, 15)
    with pytest.raises(ValueError, match="unknown atom featurizer"):
        feature_dims("nope")


@pytest.mark.parametrize("smiles", ["CCO", "c1ccccc1N", "C", "[Na+].[Cl-]", "C[C@H](N)C(=O)[O-]"])
def test_attentivefp_arrays_equal_dgllife(smiles):
    mol = Chem.MolFromSmiles(smiles)
    nodes, bonds, bond_feats = mol_graph_arrays(mol, "attentivefp")
    graph = smiles_to_bigraph(smiles, node_featurizer=AttentiveFPAtomFeaturizer(), edge_featurizer=AttentiveFPBondFeaturizer())
    np.testing.assert_array_equal(nodes, graph.ndata["h"].numpy())
    assert bonds.shape == (mol.GetNumBonds(), 2) and bond_feats.shape == (mol.GetNumBonds(), 10)
    src, dst = graph.edges()
    assert src[::2].tolist() == bonds[:, 0].tolist() and dst[::2].tolist() == bonds[:, 1].tolist()
    if mol.GetNumBonds():
        np.testing.assert_array_equal(np.repeat(bond_feats, 2, axis=0), graph.edata["e"].numpy())


def test_attentivefp_equal_to_dgllife_on_real_molecules(moleculenet):
    import pandas as pd

    smiles = pd.read_csv(moleculenet / "toxcast_data.csv.gz", usecols=["smiles"])["smiles"].tolist()  # every 25th
    assert max(len(s) for s in smiles) > 150  # ToxCast's large molecules, not only drug-sized ones
    mols = [m for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None]
    assert len(mols) > 300
    ours_atoms, ours_bonds = AttentiveFPAtoms(), AttentiveFPBonds()
    dgllife_atoms, dgllife_bonds = AttentiveFPAtomFeaturizer(), AttentiveFPBondFeaturizer()
    for mol in mols:
        np.testing.assert_array_equal(ours_atoms(mol)["h"].numpy(), dgllife_atoms(mol)["h"].numpy())
        ours, theirs = ours_bonds(mol), dgllife_bonds(mol)
        assert ours.keys() == theirs.keys()
        if ours:
            np.testing.assert_array_equal(ours["e"].numpy(), theirs["e"].numpy())


def test_paper_atom_features_layout():
    # acetic acid: C0 methyl, C1 carboxyl carbon, O2 carbonyl, O3 hydroxyl
    mol = Chem.MolFromSmiles("CC(=O)O")
    h = PaperAtoms()(mol)["h"].numpy()
    assert h.shape == (4, 57)
    assert h[0, 1] == 1 and h[2, 3] == 1  # element one-hot: C is slot 1, O slot 3
    assert h[1, 16 + 3] == 1  # degree 3
    assert h[0, 31 + 3] == 1  # methyl: 3 H (total-H slots start at 31)
    assert h[1, 53 + 2] == 1  # acidic-group flag on the carboxyl carbon
    assert h[3, 53 + 1] == 1  # the hydroxyl O is an H-bond donor
    np.testing.assert_allclose(h[:, 45], [a.GetMass() / 100 for a in mol.GetAtoms()], rtol=1e-6)
    ring = PaperAtoms()(Chem.MolFromSmiles("C1CC1"))["h"].numpy()
    assert ring[:, 36].all() and ring[:, 37].all() and not ring[:, 38:41].any()  # in ring, in 3-ring only
    unknown = PaperAtoms()(Chem.MolFromSmiles("[Na+]"))["h"].numpy()
    assert unknown[0, 15] == 1 and unknown[0, 22] == 1  # element 'other', formal charge +1


def test_paper_bond_features_layout():
    mol = Chem.MolFromSmiles("C/C=C/c1ccccc1")
    e = PaperBonds()(mol)["e"].numpy()
    assert e.shape == (2 * mol.GetNumBonds(), 15)
    assert not e[:, 0].any()  # the no-bond flag is 0 for real bonds
    double = mol.GetBondBetweenAtoms(1, 2).GetIdx()
    assert e[2 * double, 2] == 1 and e[2 * double, 7] == 1  # double, conjugated
    assert e[2 * double, 9 + 3] == 1  # STEREOE
    aromatic = mol.GetBondBetweenAtoms(4, 5).GetIdx()
    assert e[2 * aromatic, 4] == 1 and e[2 * aromatic, 8] == 1  # aromatic, in ring
    assert PaperBonds().features(Chem.MolFromSmiles("C")).shape == (0, 15)
