"""The three fingerprints against RDKit and scikit-fingerprints, including bits known by hand."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import MACCSkeys, rdReducedGraphs
from skfp.fingerprints import PubChemFingerprint

from lgmcl_dgl.featurize.fingerprints import (FINGERPRINT_SIZES, compute_fingerprints, erg_values,
                                              fingerprint_layout, maccs_bits, pubchem_bits)

MOLECULES = ["CCO", "c1ccccc1", "CC(=O)[O-].[Na+]", "C", "ClC(Cl)(Cl)Cl", "O=C(O)c1ccccc1O"]


def test_sizes_and_layout():
    mol = Chem.MolFromSmiles("CCO")
    values = compute_fingerprints(mol, ("maccs", "pubchem", "erg"))
    assert {k: len(v) for k, v in values.items()} == {"maccs": 167, "pubchem": 881, "erg": 441}
    assert fingerprint_layout(("maccs", "pubchem", "erg")) == {"maccs": [0, 167], "pubchem": [167, 1048], "erg": [1048, 1489]}
    assert sum(FINGERPRINT_SIZES.values()) == 1489


@pytest.mark.parametrize("smiles", MOLECULES)
def test_maccs_and_erg_equal_rdkit(smiles):
    mol = Chem.MolFromSmiles(smiles)
    assert maccs_bits(mol).tolist() == list(MACCSkeys.GenMACCSKeys(mol))
    expected = rdReducedGraphs.GetErGFingerprint(mol, fuzzIncrement=0.3, maxPath=21, minPath=1)
    np.testing.assert_array_equal(erg_values(mol), np.asarray(expected, dtype=np.float32))


def test_known_bits():
    ethanol = Chem.MolFromSmiles("CCO")
    pubchem = pubchem_bits(ethanol)
    # PubChem keys 0-3: >= 4, 8, 16, 32 H (6 explicit H); key 9: >= 2 C, key 10: >= 4 C; key 14: >= 1 N
    assert pubchem[[0, 1, 2, 3, 9, 10, 14]].tolist() == [1, 0, 0, 0, 1, 0, 0]
    benzene = maccs_bits(Chem.MolFromSmiles("c1ccccc1"))
    assert benzene[163] == 1 and benzene[165] == 1  # MACCS 163: six-membered ring, 165: ring
    assert maccs_bits(ethanol)[165] == 0
    # ErG with the reference's maxPath 21 has 441 values where RDKit's default (maxPath 15) has 315
    salicylic = Chem.MolFromSmiles("O=C(O)c1ccccc1O")
    assert len(rdReducedGraphs.GetErGFingerprint(salicylic)) == 315 and erg_values(salicylic).any()


def test_pubchem_bit_for_bit_with_scikit_fingerprints_on_1000_real_molecules(shared_data):
    with gzip.open(shared_data / "pretrain" / "moses_test_scaffolds.csv.gz", "rt") as handle:
        smiles = [line.strip() for line in itertools.islice(handle, 1, 801)]
    bbbp = (shared_data / "moleculenet" / "BBBP.csv").read_text().splitlines()[1:400]
    smiles += [line.rsplit(",", 1)[-1] for line in bbbp]
    mols = [m for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None][:1000]
    assert len(mols) == 1000
    with_h = [Chem.AddHs(m) for m in mols]
    expected = PubChemFingerprint(n_jobs=1).transform(with_h)
    ours = np.stack([pubchem_bits(m) for m in mols])
    assert ours.shape == (1000, 881)
    mismatched = np.flatnonzero((ours != expected).any(axis=1))
    assert mismatched.size == 0, f"{mismatched.size} molecules differ, first {Chem.MolToSmiles(mols[mismatched[0]])}"
    assert expected.sum() > 0
