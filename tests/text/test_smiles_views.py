"""Randomised SMILES: equivalent, non-canonical, reproducible."""

from __future__ import annotations

import pandas as pd
from rdkit import Chem

from lgmcl_dgl.text.smiles_views import randomised_smiles


def test_views_parse_back_to_the_same_molecule(moleculenet):
    smiles = pd.read_csv(moleculenet / "BBBP.csv")["smiles"].head(150)
    checked = 0
    for row, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        canonical = Chem.MolToSmiles(mol)
        views = randomised_smiles(mol, 4, seed=7, row=row)
        assert len(views) == 4
        if mol.GetNumHeavyAtoms() > 6:  # CH2Cl2 has two spellings in all, cyclohexane one
            assert canonical not in views
            assert len(set(views)) == 4
        for view in views:
            assert Chem.MolToSmiles(Chem.MolFromSmiles(view)) == canonical
        checked += 1
    assert checked > 140


def test_views_are_reproducible_and_depend_on_seed_and_row():
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    assert randomised_smiles(mol, 3, seed=1, row=5) == randomised_smiles(mol, 3, seed=1, row=5)
    assert randomised_smiles(mol, 3, seed=1, row=5) != randomised_smiles(mol, 3, seed=2, row=5)
    assert randomised_smiles(mol, 3, seed=1, row=5) != randomised_smiles(mol, 3, seed=1, row=6)


def test_molecule_with_few_spellings_still_gets_k_views():
    assert randomised_smiles(Chem.MolFromSmiles("C"), 3, seed=0, row=0) == ["C", "C", "C"]
    views = randomised_smiles(Chem.MolFromSmiles("CO"), 3, seed=0, row=0)
    assert len(views) == 3 and set(views) == {"OC"}
    assert randomised_smiles(Chem.MolFromSmiles("CO"), 0, seed=0, row=0) == []
