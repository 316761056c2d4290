"""The three fingerprints against RDKit and scikit-fingerprints, including bits known by hand."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import MACCSkeys, rdReducedGraphs
from skfp.fingerprints import PubChemFingerprint

from lgmcl_dgl.featurize.fingerprints import (FINGERPRINT_SIZES, _pubchem, compute_fingerprints, erg_values,
                                              fingerprint_layout, maccs_bits, pubchem_bits)

MOLECULES = ["CCO", "c1ccccc1", "CC(=O)[O-].[Na+]", "C", "ClC(Cl)(Cl)Cl", "O=C(O)c1ccccc1O"]
# isotopes (explicit [2H] atoms stay in the graph), charges, fragments, metals, single atoms, H without heavy
# atoms, fused, bridged, spiro and large rings, several aromatic rings
EDGE_CASES = ["[13CH4]", "[2H]C([2H])([2H])Cl", "[2H]O[2H]", "[NH4+].[Cl-]", "[Na+]", "[Fe+2]", "[HH]", "[H+]",
              "O=C([O-])c1ccccc1.[Na+]", "[Pt](Cl)(Cl)(N)N", "[Li]CCCC", "B(O)(O)c1ccccc1", "O=[Si]=O", "[U]",
              "C[Se]C", "c1ccc2ccccc2c1", "c1ccc(cc1)-c1ccccc1", "C1CC2CCC1CC2", "C1CCC12CCCC2", "C1CCCCCCC1",
              "C1=CC=CC=CC=C1", "c1ccc2c(c1)[nH]c1ccccc12", "C12C3C4C1C5C2C3C45", "[O-][N+](=O)c1ccc(Br)cc1I",
              "N#CC(F)(F)P(=O)(O)OS(=O)(=O)O", "C[C@H](N)C(=O)O"]


def test_sizes_and_layout():
    mol = Chem.MolFromSmiles("CCO")
    values = compute_fingerprints(mol, ("maccs", "pubchem", "erg"))
    assert {k: len(v) for k, v in values.items()} == {"maccs": 167, "pubchem": 881, "erg": 441}
    assert fingerprint_layout(("maccs", "pubchem", "erg")) == {"maccs": [0, 167], "pubchem": [167, 1048], "erg": [1048, 1489]}
    assert sum(FINGERPRINT_SIZES.values()) == 1489


@pytest.mark.parametrize("smiles", MOLECULES + EDGE_CASES)
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
    # MACCS: key 1 (isotope) is never set; 125: more than one aromatic ring; 166: more than one fragment;
    # 101: a ring of 8 to 14 atoms, which naphthalene's 10-atom perimeter is
    maccs = {s: maccs_bits(Chem.MolFromSmiles(s)) for s in ("[13CH4]", "c1ccc2ccccc2c1", "c1ccc(cc1)-c1ccccc1", "[NH4+].[Cl-]")}
    assert maccs["[13CH4]"][1] == 0 and not benzene[[125, 166, 101]].any()
    assert maccs["c1ccc2ccccc2c1"][[125, 101]].all() and maccs["c1ccc(cc1)-c1ccccc1"][125] == 1
    assert maccs["[NH4+].[Cl-]"][166] == 1
    # ErG with the reference's maxPath 21 has 441 values where RDKit's default (maxPath 15) has 315
    salicylic = Chem.MolFromSmiles("O=C(O)c1ccccc1O")
    assert len(rdReducedGraphs.GetErGFingerprint(salicylic)) == 315 and erg_values(salicylic).any()


@pytest.mark.parametrize("smiles", MOLECULES + EDGE_CASES)
def test_pubchem_equals_scikit_fingerprints_on_edge_cases(smiles):
    """Beyond the bits: the element and ring counts, computed on the molecule without H, are the ones
    scikit-fingerprints counts on the molecule with explicit H."""
    mol = Chem.MolFromSmiles(smiles)
    reference, ours, with_h = PubChemFingerprint(n_jobs=1), _pubchem(), Chem.AddHs(mol)
    assert pubchem_bits(mol).tolist() == reference.transform([with_h])[0].tolist()
    assert _nonzero(ours._get_atom_counts(mol)) == _nonzero(reference._get_atom_counts(with_h))
    assert _nonzero(ours._get_ESSSR_ring_counts(mol)) == _nonzero(reference._get_ESSSR_ring_counts(with_h))


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    """Counts without their zero entries, which scikit-fingerprints' defaultdicts gain by being read."""
    return {key: value for key, value in counts.items() if value}


def test_pubchem_bit_for_bit_with_scikit_fingerprints_on_1000_real_molecules(sample_data):
    with gzip.open(sample_data / "pretrain" / "moses_test_scaffolds.csv.gz", "rt") as handle:
        smiles = [line.strip() for line in itertools.islice(handle, 1, 801)]
    bbbp = (sample_data / "moleculenet" / "BBBP.csv").read_text().splitlines()[1:400]
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
    maccs = np.stack([maccs_bits(m) for m in mols])
    assert (maccs == np.array([list(MACCSkeys.GenMACCSKeys(m)) for m in mols])).all() and maccs.sum() > 0
