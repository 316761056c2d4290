"""The rdkit backend's facts against RDKit, the schema validation, rendering and ``describe``."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors

from lgmcl_dgl.text.backends.rdkit import (_CHARGE_SMARTS, _GROUP_SMARTS, _GUARDS, FUNCTIONAL_GROUPS, IONISABLE,
                                           RING_TYPES, _matching, charge_at_ph7, describe_mol, functional_groups,
                                           ring_types)
from lgmcl_dgl.text.describe import SCHEMA, DescriptionError, describe, parse_answer, render, validate_fields

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def test_catalogue_smarts_compile_and_has_about_fifty_groups():
    for _, smarts in FUNCTIONAL_GROUPS + RING_TYPES:
        assert Chem.MolFromSmarts(smarts) is not None, smarts
    for _, smarts, _, _ in IONISABLE:
        assert Chem.MolFromSmarts(smarts) is not None, smarts
    assert len(FUNCTIONAL_GROUPS) >= 45


def test_aspirin_facts():
    mol = Chem.MolFromSmiles(ASPIRIN)
    fields = describe_mol(mol)
    assert validate_fields(fields) == fields
    groups = functional_groups(mol)
    assert groups == {"carboxylic acid": 1, "ester": 1}
    assert ring_types(mol) == {"benzene": 1}
    profile, structure = fields["physicochemical_profile"], fields["structural_features"]
    assert profile["hydrogen_bonding"].startswith("1 donor and 3 acceptors")
    assert "1 aromatic ring," in structure["rings_and_aromaticity"]
    assert "1,2-disubstituted (ortho)" in structure["substitution_pattern"]
    assert "anionic" in profile["charge_state"] and "carboxylic acid" in profile["charge_state"]
    assert structure["stereochemistry"].startswith("no stereocentres")
    assert "c1ccccc1" in fields["basic_identity"]["core_scaffold"]


@pytest.mark.parametrize("smiles, state, net", [
    ("CCN", "cationic", 1),  # primary amine, pKa ~10.7
    ("CC(=O)O", "anionic", -1),
    ("NCC(=O)O", "zwitterionic", 0),
    ("C[N+](C)(C)C", "cationic", 1),
    ("c1ccncc1", "neutral", 0),  # pyridine, pKa ~5
    ("CC(=O)Nc1ccccc1", "neutral", 0),  # amide N is not basic
    ("Oc1ccccc1", "neutral", 0),  # phenol, pKa ~10
    ("NC(=N)NCCC[C@H](N)C(=O)O", "zwitterionic", 1),  # arginine
    ("CS(=O)(=O)NC", "neutral", 0),  # sulfonamide N is not basic
    ("CN(C)C(=N)NC(=N)N", "cationic", 1),  # metformin: the biguanide takes one proton
    ("OC(=O)c1cn(C2CC2)c2cc(N3CCNCC3)c(F)cc2c1=O", "zwitterionic", 0),  # ciprofloxacin
    ("CCCCc1nc(Cl)c(CO)n1Cc1ccc(-c2ccccc2-c2nn[nH]n2)cc1", "anionic", -1),  # losartan: 2H-tetrazole
    ("Cc1nnn[nH]1", "anionic", -1),  # 1H-tetrazole
])
def test_charge_state_at_ph7(smiles, state, net):
    mol = Chem.MolFromSmiles(smiles)
    negative, positive, _, _ = charge_at_ph7(mol)
    assert positive - negative == net
    text = describe_mol(mol)["physicochemical_profile"]["charge_state"]
    assert f"estimated {state} at pH 7" in text


def test_stereo_and_groups_on_known_molecules():
    crotonyl_alanine = describe_mol(Chem.MolFromSmiles("C/C=C/C(=O)N[C@@H](C)C(=O)O"))
    stereo = crotonyl_alanine["structural_features"]["stereochemistry"]
    assert "1 stereocentre (1 specified: 1 S; 0 unspecified)" in stereo
    assert "1 stereo-defined double bond (1 E)" in crotonyl_alanine["structural_features"]["stereochemistry"]
    groups = crotonyl_alanine["structural_features"]["key_functional_groups"]
    assert "amide" in groups and "alpha,beta-unsaturated carbonyl" in groups and "ester" not in groups
    assert functional_groups(Chem.MolFromSmiles("C[C@@H]1O[C@@H]1P(=O)(O)O"))["phosphate or phosphonate"] == 1
    caffeine = Chem.MolFromSmiles("Cn1cnc2c1c(=O)n(C)c(=O)n2C")
    assert "carboxylic acid" not in functional_groups(caffeine)
    assert "imidazole" in ring_types(caffeine)
    sulfamethoxazole = describe_mol(Chem.MolFromSmiles("Cc1cc(NS(=O)(=O)c2ccc(N)cc2)no1"))
    charge = sulfamethoxazole["physicochemical_profile"]["charge_state"]
    assert "sulfonamide N-H (pKa ~6-8) partly deprotonated" in charge
    para = describe_mol(Chem.MolFromSmiles("Cc1ccc(Cl)cc1"))["structural_features"]["substitution_pattern"]
    assert "(para)" in para and "1 Cl" in para


_NUMBER = r"(-?\d+(?:\.\d+)?)"


def test_numbers_in_text_match_rdkit_on_real_molecules(moleculenet):
    """Every number the text states is RDKit's value for the molecule (first 60 valid BBBP molecules)."""
    smiles = pd.read_csv(moleculenet / "BBBP.csv")["smiles"].head(70)
    checked = 0
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        text = render(describe_mol(mol))
        assert float(re.search(r"MW " + _NUMBER, text).group(1)) == pytest.approx(Descriptors.MolWt(mol), abs=0.06)
        assert float(re.search(r"logP " + _NUMBER, text).group(1)) == pytest.approx(Crippen.MolLogP(mol), abs=0.006)
        tpsa = float(re.search(r"TPSA " + _NUMBER, text).group(1))
        assert tpsa == pytest.approx(rdMolDescriptors.CalcTPSA(mol), abs=0.06)
        donors, acceptors = map(int, re.search(r"(\d+) donors? and (\d+) acceptors?", text).groups())
        assert (donors, acceptors) == (rdMolDescriptors.CalcNumHBD(mol), rdMolDescriptors.CalcNumHBA(mol))
        rotatable = int(re.search(r"(\d+) rotatable bonds?", text).group(1))
        assert rotatable == rdMolDescriptors.CalcNumRotatableBonds(mol)
        aromatic = re.search(r"(\d+) aromatic rings?", text)
        assert int(aromatic.group(1) if aromatic else 0) == rdMolDescriptors.CalcNumAromaticRings(mol)
        assert 700 < len(text) < 1800
        checked += 1
    assert checked >= 60


def test_rdkit_backend_is_deterministic():
    assert describe([ASPIRIN, "CCN"]) == describe([ASPIRIN, "CCN"])


def test_describe_names_the_invalid_smiles():
    with pytest.raises(ValueError, match=r"SMILES 1 \('C1CC'\)"):
        describe([ASPIRIN, "C1CC"])


def test_parse_answer_accepts_fenced_json_and_rejects_schema_violations():
    fields = describe_mol(Chem.MolFromSmiles(ASPIRIN))
    assert parse_answer("Here it is:\n```json\n" + json.dumps(fields) + "\n```") == fields
    broken = json.loads(json.dumps(fields))
    del broken["structural_features"]["stereochemistry"]
    with pytest.raises(DescriptionError, match="stereochemistry"):
        parse_answer(json.dumps(broken))
    with pytest.raises(DescriptionError, match="not valid JSON"):
        parse_answer('{"basic_identity": ')
    with pytest.raises(DescriptionError, match="missing section"):
        parse_answer("{}")


def test_render_has_every_field():
    text = render(describe_mol(Chem.MolFromSmiles(ASPIRIN)))
    for keys in SCHEMA.values():
        for key in keys:
            assert key.replace("_", " ").lower() in text.lower()
    assert text.splitlines()[-1].startswith("Notes: ")


def test_text_does_not_depend_on_how_the_smiles_is_written(moleculenet):
    """A randomised spelling of the molecule gets the same description (no atom-order artefacts)."""
    smiles = [s for s in pd.read_csv(moleculenet / "BBBP.csv")["smiles"].head(120) if Chem.MolFromSmiles(s)]
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        [other] = Chem.MolToRandomSmilesVect(mol, 1, randomSeed=11)
        assert render(describe_mol(Chem.MolFromSmiles(other))) == render(describe_mol(mol)), s


def test_describing_leaves_the_molecule_as_it_was():
    mol = Chem.MolFromSmiles("C/C=C/C(=O)N[C@@H](C)C(=O)O")
    before = [b.GetStereo() for b in mol.GetBonds()]
    first = describe_mol(mol)
    assert [b.GetStereo() for b in mol.GetBonds()] == before
    assert describe_mol(mol) == first
    for smiles in ("C/C=C/C(=O)N[C@@H](C)C(=O)O", "C1CC(C)C(C)C(C)C1", "C[C@H]1CC[C@@H](C)CC1", ASPIRIN):
        mol = Chem.MolFromSmiles(smiles)
        assert describe_mol(Chem.Mol(mol), scratch=True) == describe_mol(mol), smiles


# one molecule per guarded pattern, and some with none of them
_SCREENED = ("CC(=N)N", "CC(C)=NC", "CNNC", "C[N+](=O)[O-]", "[O-][n+]1ccccc1", "CS(C)=O", "c1ccnnc1", "c1nc[nH]n1",
             "c1ccc2ncccc2c1", "c1c[nH]cn1", "NC(=N)NCCC[C@H](N)C(=O)O", "Cc1nnn[nH]1", ASPIRIN, "CCN")


@pytest.mark.parametrize("smiles", _SCREENED)
def test_screen_finds_exactly_the_patterns_that_match(smiles):
    """The FilterCatalog screen, guards included, agrees with matching each pattern on its own."""
    mol = Chem.MolFromSmiles(smiles)
    for patterns in (_GROUP_SMARTS, _CHARGE_SMARTS):
        assert _matching(mol, patterns) == {s for s in patterns if mol.HasSubstructMatch(Chem.MolFromSmarts(s))}


def test_every_guard_guards_a_catalogue_pattern():
    assert set(_GUARDS) <= set(_GROUP_SMARTS + _CHARGE_SMARTS)
