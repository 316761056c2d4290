"""The rdkit backend: every schema field filled from facts RDKit computes, so nothing can be invented.

Deterministic and offline. Functional groups and ring types come from a SMARTS catalogue below;
charge state at pH 7 from textbook pKa ranges of common ionisable groups (an estimate, said so in
the text); qualitative bins use the thresholds written into each sentence.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

import rdkit
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, FilterCatalog, rdMolDescriptors
from rdkit.Chem.Scaffolds import MurckoScaffold

MODEL = f"rdkit-{rdkit.__version__}"
PROMPT_VERSION = "rdkit-facts-v6"  # bump when the wording or the catalogue changes

# name, SMARTS. Order is the order of the text; each match is a distinct set of atoms.
FUNCTIONAL_GROUPS: tuple[tuple[str, str], ...] = (
    ("carboxylic acid", "[CX3](=O)[OX2H1]"),
    ("carboxylate", "[CX3](=O)[OX1-]"),
    ("ester", "[#6][CX3](=O)[OX2H0][#6]"),
    ("amide", "[NX3][CX3](=[OX1])[#6]"),
    ("urea", "[NX3][CX3](=[OX1])[NX3]"),
    ("carbamate", "[NX3][CX3](=[OX1])[OX2][#6]"),
    ("imide", "[CX3](=O)[NX3][CX3](=O)"),
    ("beta-lactam", "O=[#6]1[#6][#6][#7]1"),
    ("ketone", "[#6][CX3](=O)[#6]"),
    ("aldehyde", "[CX3H1](=O)[#6]"),
    ("acyl halide", "[CX3](=O)[F,Cl,Br,I]"),
    ("anhydride", "[CX3](=O)[OX2][CX3](=O)"),
    ("hydroxamic acid", "[CX3](=O)[NX3][OX2H]"),
    ("alcohol", "[OX2H][CX4]"),
    ("phenol", "[OX2H]c"),
    ("ether", "[OX2]([#6;!$(C=[O,S,N])])[#6;!$(C=[O,S,N])]"),
    ("epoxide", "[OX2r3]1[#6r3][#6r3]1"),
    ("primary aliphatic amine", "[NX3;H2;+0][CX4]"),
    ("secondary aliphatic amine", "[NX3;H1;+0]([CX4])[CX4]"),
    ("tertiary aliphatic amine", "[NX3;H0;+0]([CX4])([CX4])[CX4]"),
    ("aromatic amine", "[NX3;+0;!$(N[#6]=[O,S,N]);!$(N[S,P]=O)]c"),
    ("ammonium (protonated amine)", "[NX4+;!H0]"),
    ("quaternary ammonium", "[NX4+;H0]"),
    ("guanidine", "[NX3][CX3](=[NX2,NX3+])[NX3]"),
    ("amidine", "[#6,#1;!$(C=O)][CX3;!$(C(N)(N)=N)](=[NX2,NX3+;!a])[NX3;!a]"),
    ("imine", "[CX3;!$(C-[N,O,S])]=[NX2;!$(N-[N,O])]"),
    ("oxime", "[CX3]=[NX2][OX2]"),
    ("hydrazone", "[CX3]=[NX2][NX3]"),
    ("hydrazine", "[NX3;!$(NC=O)][NX3;!$(NC=O)]"),
    ("azo", "[#6][NX2]=[NX2][#6]"),
    ("nitrile", "[CX2]#[NX1]"),
    ("nitro", "[$([NX3](=O)=O),$([NX3+](=O)[O-])][!#8]"),
    ("N-oxide", "[#7+;!$([NX3+](=O)[O-])][OX1-]"),
    ("isocyanate or isothiocyanate", "[NX2]=[CX2]=[O,S]"),
    ("thiol", "[SX2H]"),
    ("thioether", "[SX2;+0]([#6])[#6]"),
    ("disulfide", "[SX2][SX2]"),
    ("thiocarbonyl", "[#6X3]=[SX1]"),
    ("sulfoxide", "[$([SX3](=O)([#6])[#6]),$([SX3+]([O-])([#6])[#6])]"),
    ("sulfone", "[SX4](=O)(=O)([#6])[#6]"),
    ("sulfonamide", "[SX4](=O)(=O)[NX3]"),
    ("sulfonic acid", "[SX4](=O)(=O)[OX2H,OX1-]"),
    ("sulfonate or sulfate ester", "[SX4](=O)(=O)[OX2][#6]"),
    ("phosphate or phosphonate", "[PX4;$(P(=O)[OX2,OX1-])]"),  # one per P, however many P-O
    ("trifluoromethyl", "[CX4](F)(F)F"),
    ("aryl halide", "[F,Cl,Br,I]c"),
    ("alkyl halide", "[F,Cl,Br,I][CX4;!$(C(F)(F)F)]"),
    ("alkene", "[CX3;!a]=[CX3;!a]"),
    ("alkyne", "[CX2]#[CX2]"),
    ("alpha,beta-unsaturated carbonyl", "[CX3]=[CX3][CX3]=[OX1]"),
    ("boronic acid or ester", "[BX3]([OX2])[OX2]"),
)

RING_TYPES: tuple[tuple[str, str], ...] = (
    ("benzene", "c1ccccc1"),
    ("pyridine", "[nX2]1ccccc1"),
    ("pyrimidine", "c1ncncc1"),
    ("pyrazine", "c1cnccn1"),
    ("pyridazine", "c1ccnnc1"),
    ("pyrrole", "[nX3]1cccc1"),
    ("furan", "o1cccc1"),
    ("thiophene", "s1cccc1"),
    ("imidazole", "[nX3]1c[nX2]cc1"),
    ("pyrazole", "[nX3]1[nX2]ccc1"),
    ("oxazole", "o1cncc1"),
    ("isoxazole", "o1nccc1"),
    ("thiazole", "s1cncc1"),
    ("triazole", "[$(n1nncc1),$(n1cncn1),$(n1ncnc1)]"),
    ("tetrazole", "[#6]1:[#7]:[#7]:[#7]:[#7]:1"),
    ("indole", "c1ccc2[nX3]ccc2c1"),
    ("quinoline or isoquinoline", "[$(c1ccc2ncccc2c1),$(c1ccc2cnccc2c1)]"),
    ("naphthalene", "c1ccc2ccccc2c1"),
    ("benzimidazole", "c1ccc2[nX3]c[nX2]c2c1"),
    ("piperidine", "N1CCCCC1"),
    ("piperazine", "N1CCNCC1"),
    ("morpholine", "N1CCOCC1"),
    ("pyrrolidine", "N1CCCC1"),
    ("tetrahydrofuran", "O1CCCC1"),
    ("tetrahydropyran", "O1CCCCC1"),
    ("cyclopropane", "C1CC1"),
    ("cyclohexane", "C1CCCCC1"),
)

# Ionisable groups at pH 7: (SMARTS, charge at pH 7, phrase with the pKa range the estimate rests on).
IONISABLE: tuple[tuple[str, str, int, str], ...] = (
    ("carboxylic acid", "[CX3](=O)[OX2H1,OX1-]", -1, "carboxylic acid (pKa ~4-5) deprotonated"),
    ("sulfonic acid", "[SX4](=O)(=O)[OX2H,OX1-]", -1, "sulfonic acid (pKa below 1) deprotonated"),
    ("phosphoric acid", "[PX4](=O)[OX2H,OX1-]", -1, "phosphate/phosphonate acid (pKa ~1-2) deprotonated"),
    ("tetrazole", "[#7;H1,-1;$([#7]1:[#7]:[#7]:[#7]:[#6]:1),$([#7]1:[#7]:[#7]:[#6]:[#7]:1)]", -1,  # 1H or 2H
     "tetrazole N-H (pKa ~4.5-5) deprotonated"),
    ("acylsulfonamide", "[CX3](=O)[NX3;H1][SX4](=O)=O", -1, "acylsulfonamide (pKa ~4-5) deprotonated"),
    ("guanidine", "[NX3][CX3](=[NX2,NX3+])[NX3]", +1, "guanidine (pKa ~13) protonated"),
    ("amidine", "[#6,#1;!$(C=O)][CX3;!$(C(N)(N)=N)](=[NX2,NX3+;!a])[NX3;!a]", +1, "amidine (pKa ~11-12) protonated"),
    ("aliphatic amine", "[$([NX3;+0;!$(N~[!#6]);!$(N[#6]=,#,:*)]),$([NX4+;!H0;!$(N~[!#6]);!$(N[#6]=,#,:*)])]", +1,
     "aliphatic amine (pKa ~9-11) protonated"),
    ("quaternary ammonium", "[NX4+;H0]", +1, "quaternary ammonium permanently cationic"),
)
WEAK_IONISABLE: tuple[tuple[str, str, str], ...] = (
    ("imidazole", "[nX2;r5;$(n:c:[nX3;H1,$(n-[#6])]),$(n:c:[nX3]);!$(n:[#7])]", "imidazole (pKa ~7) partly protonated"),
    ("pyridine", "[nX2;r6]", "pyridine-type nitrogen (pKa ~5) mostly neutral"),
    ("phenol", "[OX2H]c", "phenol (pKa ~10) mostly neutral"),
    ("aromatic amine", "[NX3;H2,H1;+0;!$(N[#6]=[O,S,N]);!$(N[S,P]=O)]c", "aromatic amine (pKa ~4-5) neutral"),
    ("N-aryl sulfonamide", "[NX3;H1;$(N(a)[SX4](=O)=O)]", "N-aryl sulfonamide N-H (pKa ~6-8) partly deprotonated"),
)

_COMPILED: dict[str, Chem.Mol] = {}


def _pattern(smarts: str) -> Chem.Mol:
    pattern = _COMPILED.get(smarts)
    if pattern is None:
        pattern = Chem.MolFromSmarts(smarts)
        if pattern is None:
            raise ValueError(f"bad SMARTS in the catalogue: {smarts}")
        _COMPILED[smarts] = pattern
    return pattern


def _count(mol: Chem.Mol, smarts: str) -> int:
    return len(mol.GetSubstructMatches(_pattern(smarts), uniquify=True, maxMatches=100))


# What each screen covers: groups and rings together; the charge patterns later, after GetSSSR, as they
# always were (two of them ask for ring sizes)
_GROUP_SMARTS = tuple(smarts for _, smarts in FUNCTIONAL_GROUPS + RING_TYPES)
_CHARGE_SMARTS = tuple(item[1] for item in IONISABLE + WEAK_IONISABLE)

# Costly, rarely matching patterns, each with a cheap one that every match of it contains (one of its
# atoms or bonds, in every alternative, less some conditions): the screen tries the costly one only
# where the cheap one matches.
_GUARDS = {
    "[#6,#1;!$(C=O)][CX3;!$(C(N)(N)=N)](=[NX2,NX3+;!a])[NX3;!a]": "[NX2,NX3+;!a]",  # amidine
    "[CX3;!$(C-[N,O,S])]=[NX2;!$(N-[N,O])]": "[NX2]",  # imine
    "[NX3;!$(NC=O)][NX3;!$(NC=O)]": "[NX3][NX3]",  # hydrazine
    "[$([NX3](=O)=O),$([NX3+](=O)[O-])][!#8]": "N=O",  # nitro
    "[#7+;!$([NX3+](=O)[O-])][OX1-]": "[#7+]",  # N-oxide
    "[$([SX3](=O)([#6])[#6]),$([SX3+]([O-])([#6])[#6])]": "[SX3]",  # sulfoxide
    "c1ccnnc1": "n~n",  # pyridazine
    "[$(n1nncc1),$(n1cncn1),$(n1ncnc1)]": "n~n",  # triazole
    "[$(c1ccc2ncccc2c1),$(c1ccc2cnccc2c1)]": "n",  # quinoline or isoquinoline
    "[nX2;r5;$(n:c:[nX3;H1,$(n-[#6])]),$(n:c:[nX3]);!$(n:[#7])]": "[nX2;r5]",  # imidazole (weakly ionisable)
}


@functools.cache
def _screen(patterns: tuple[str, ...]) -> FilterCatalog.FilterCatalog:
    """``patterns`` as one FilterCatalog: an entry per distinct SMARTS, named by it."""
    screen = FilterCatalog.FilterCatalog()
    for smarts in dict.fromkeys(patterns):
        matcher = FilterCatalog.SmartsMatcher(smarts, _pattern(smarts))
        if smarts in _GUARDS:
            guard = FilterCatalog.SmartsMatcher(_GUARDS[smarts], _pattern(_GUARDS[smarts]))
            matcher = FilterCatalog.FilterMatchOps.And(guard, matcher)  # the pattern is tried only if the guard matches
        screen.AddEntry(FilterCatalog.FilterCatalogEntry(smarts, matcher))
    return screen


def _matching(mol: Chem.Mol, patterns: tuple[str, ...]) -> set[str]:
    """Those of ``patterns`` that match ``mol`` at all.

    A molecule matches a handful of the catalogue's ~90 patterns: one C++ pass over all of them with
    RDKit's substructure match, then counting only those that match, costs far less than a Python
    call per pattern.
    """
    entries = _screen(patterns).GetMatches(mol)
    return {entries[i].GetDescription() for i in range(len(entries))}  # by index: iterating the list is slow


def _round(value: float) -> float:
    """Two decimals, stable against last-bit noise from the atom order (1.92499999 vs 1.92500001)."""
    return round(round(value, 6), 2)


def prompt_descriptors(mol: Chem.Mol) -> dict[str, float | int]:
    """The 8 descriptors the paper's prompt gives the LLM, rounded as they are shown."""
    return {
        "molecular_weight": _round(Descriptors.MolWt(mol)),
        "logp": _round(Crippen.MolLogP(mol)),
        "tpsa": _round(rdMolDescriptors.CalcTPSA(mol)),
        "h_bond_donors": rdMolDescriptors.CalcNumHBD(mol),
        "h_bond_acceptors": rdMolDescriptors.CalcNumHBA(mol),
        "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds(mol),
        "formal_charge": Chem.GetFormalCharge(mol),
        "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings(mol),
    }


# (edges, names): a value below edges[i] falls in names[i]; the text names the band it fell in
SIZE_BANDS = ((300, 500), ("small", "medium", "large"))  # molecular weight, Da
LIPOPHILICITY_BANDS = ((1, 3, 5), ("hydrophilic", "moderate", "lipophilic", "highly lipophilic"))  # Crippen logP
POLARITY_BANDS = ((40, 90, 140), ("low", "moderate", "high", "very high"))  # TPSA, A^2
FLEXIBILITY_BANDS = ((4, 8, 11), ("rigid", "moderately flexible", "flexible", "highly flexible"))  # rotatable bonds


def _band(value: float, bands: tuple[tuple[float, ...], tuple[str, ...]]) -> tuple[str, str]:
    """The bin's name and its range in words, e.g. ``("moderate", "1-3")``."""
    edges, names = bands
    i = next((k for k, edge in enumerate(edges) if value < edge), len(edges))
    band = f"< {edges[0]}" if i == 0 else f">= {edges[-1]}" if i == len(edges) else f"{edges[i - 1]}-{edges[i]}"
    return names[i], band


def functional_groups(mol: Chem.Mol, matching: set[str] | None = None) -> dict[str, int]:
    """Named groups in the molecule with their counts, in catalogue order.

    ``matching``: ``_matching(mol, _GROUP_SMARTS)``, when the caller has it (one screen for groups and rings).
    """
    matching = _matching(mol, _GROUP_SMARTS) if matching is None else matching
    found = {name: _count(mol, smarts) for name, smarts in FUNCTIONAL_GROUPS if smarts in matching}
    if "guanidine" in found:
        found.pop("amidine", None)  # a guanidine contains the amidine pattern; name it once
    return found


def ring_types(mol: Chem.Mol, matching: set[str] | None = None) -> dict[str, int]:
    matching = _matching(mol, _GROUP_SMARTS) if matching is None else matching
    return {name: _count(mol, smarts) for name, smarts in RING_TYPES if smarts in matching}


def charge_at_ph7(mol: Chem.Mol) -> tuple[int, int, list[str], list[str]]:
    """Anionic and cationic group counts at pH 7, phrases for them, and weakly ionisable groups."""
    matching = _matching(mol, _CHARGE_SMARTS)
    negative, positive, charged = 0, 0, []
    claimed: set[int] = set()
    for _name, smarts, charge, phrase in IONISABLE:
        if smarts not in matching:
            continue
        matches = []
        for match in mol.GetSubstructMatches(_pattern(smarts), uniquify=True):
            if not claimed & set(match):  # each atom ionises once: a biguanide is one cation, not two
                claimed.update(match)
                matches.append(match)
        if matches:
            if charge < 0:
                negative += len(matches)
            else:
                positive += len(matches)
            charged.append(f"{len(matches)} x {phrase}" if len(matches) > 1 else phrase)
    weak = [phrase for _name, smarts, phrase in WEAK_IONISABLE if smarts in matching]
    return negative, positive, charged, weak


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _counted(found: dict[str, int]) -> str:
    return ", ".join(f"{n} x {name}" if n > 1 else name for name, n in found.items())


def _ring_systems(rings: tuple[tuple[int, ...], ...]) -> list[set[int]]:
    systems: list[set[int]] = []
    for ring in rings:
        ring_atoms = set(ring)
        merged = [s for s in systems if len(s & ring_atoms) >= 2]
        for s in merged:
            ring_atoms |= s
            systems.remove(s)
        systems.append(ring_atoms)
    return systems


_FORMULA_PART = re.compile(r"([A-Z][a-z]?)(\d*)")


def _element_counts(formula: str) -> dict[str, int]:
    """``C9H8O4`` -> {"C": 9, "H": 8, "O": 4} (RDKit's formula: cheaper than a pass over the atoms)."""
    return {symbol: int(n or 1) for symbol, n in _FORMULA_PART.findall(formula)}


def _substitution(mol: Chem.Mol, rings: tuple[tuple[int, ...], ...], elements: dict[str, int]) -> str:
    """Substituents on each 6-membered aromatic ring (ortho/meta/para when two), halogens, heteroatoms."""
    parts = []
    for ring in rings:
        if len(ring) != 6:
            continue
        atoms = [mol.GetAtomWithIdx(i) for i in ring]
        if not all(atom.GetIsAromatic() for atom in atoms):
            continue
        ring_set = set(ring)
        positions, fused = [], False
        for k, atom in enumerate(atoms):
            if atom.GetDegree() == 2:
                continue
            # is each bond leaving the ring a ring bond (a fused ring) or not (a substituent)?
            leaving = [b.IsInRing() for b in atom.GetBonds() if b.GetOtherAtomIdx(ring[k]) not in ring_set]
            fused = fused or any(leaving)
            if not all(leaving):
                positions.append(k)
        n = len(positions)
        if n == 2:
            gap = min((positions[1] - positions[0]) % 6, (positions[0] - positions[1]) % 6)
            text = {1: "1,2-disubstituted (ortho)", 2: "1,3-disubstituted (meta)", 3: "1,4-disubstituted (para)"}[gap]
        else:
            text = "unsubstituted" if n == 0 else "monosubstituted" if n == 1 else f"{n} substituents"
        parts.append(text + (", fused" if fused else ""))
    # sorted: the text must not depend on the atom order of the input SMILES
    text = ("6-membered aromatic rings: " + "; ".join(sorted(parts))) if parts else "no 6-membered aromatic ring"
    halogens = {s: n for s, n in elements.items() if s in ("F", "Cl", "Br", "I")}
    hetero = {s: n for s, n in elements.items() if s not in ("C", "H")}
    text += "; halogens: " + (", ".join(f"{n} {s}" for s, n in sorted(halogens.items())) if halogens else "none")
    text += "; heteroatoms: " + (", ".join(f"{n} {s}" for s, n in sorted(hetero.items())) if hetero else "none")
    return text


_BOND_STEREO = {Chem.BondStereo.STEREOE: "E", Chem.BondStereo.STEREOZ: "Z",
                Chem.BondStereo.STEREOTRANS: "trans", Chem.BondStereo.STEREOCIS: "cis"}
_TETRAHEDRAL_TAG = Chem.MolFromSmarts("[@]")  # with useChirality: any atom tagged @ or @@


def _stereo(mol: Chem.Mol, scratch: bool = False) -> str:
    bond = mol.GetBondWithIdx  # by index: iterating mol.GetBonds() is slow
    stereo = [bond(i).GetStereo() for i in range(mol.GetNumBonds())]
    double = Counter(_BOND_STEREO[s] for s in stereo if s in _BOND_STEREO)
    # The non-legacy search changes the molecule (it re-perceives double bonds as cis/trans, not E/Z), so
    # it runs on a copy unless the caller discards the molecule. Its CIP labelling, much of its cost, only
    # labels tagged centres and stereo double bonds: without either, every centre is "?" with or without it.
    target = mol if scratch else Chem.Mol(mol)
    cip = bool(double) or target.HasSubstructMatch(_TETRAHEDRAL_TAG, useChirality=True)
    centres = Chem.FindMolChiralCenters(target, includeUnassigned=True, includeCIP=cip,
                                        useLegacyImplementation=False)
    assigned = [label for _, label in centres if label in ("R", "S")]
    parts = []
    if centres:
        labels = ", ".join(f"{n} {label}" for label, n in sorted(Counter(assigned).items()))
        parts.append(f"{_plural(len(centres), 'stereocentre')} ({len(assigned)} specified"
                     + (f": {labels}" if assigned else "") + f"; {len(centres) - len(assigned)} unspecified)")
    else:
        parts.append("no stereocentres")
    if double:
        parts.append(f"{_plural(sum(double.values()), 'stereo-defined double bond')} "
                     f"({', '.join(f'{n} {label}' for label, n in sorted(double.items()))})")
    else:
        parts.append("no specified double-bond stereochemistry")
    return "; ".join(parts)


def describe_mol(mol: Chem.Mol, *, scratch: bool = False) -> dict[str, Any]:
    """All schema fields for one sanitised molecule (see ``lgmcl_dgl.text.describe.SCHEMA``).

    ``scratch``: the caller discards ``mol`` afterwards, so it may be changed (it saves a copy).
    """
    d = prompt_descriptors(mol)
    heavy = mol.GetNumHeavyAtoms()
    matching = _matching(mol, _GROUP_SMARTS)
    groups = functional_groups(mol, matching)
    rings = ring_types(mol, matching)
    sssr = Chem.GetSSSR(mol)  # its size is the cyclomatic number: unlike the symmetrised set, order-independent
    n_rings = len(sssr)
    n_aliphatic = n_rings - d["aromatic_rings"]
    n_hetero_aromatic = rdMolDescriptors.CalcNumAromaticHeterocycles(mol)
    atom_rings = mol.GetRingInfo().AtomRings()  # the SSSR just found
    systems = _ring_systems(atom_rings)
    fsp3 = rdMolDescriptors.CalcFractionCSP3(mol)
    negative, positive, charged, weak = charge_at_ph7(mol)

    if n_rings:
        # without stereo: the stereochemistry field has it, and scaffold stereo SMILES can depend on atom order
        scaffold = Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol), isomericSmiles=False)
        core = f"Murcko scaffold {scaffold}" + (f" ({_counted(rings)})" if rings else "")
    else:
        core = "acyclic, no ring scaffold"
    formula = rdMolDescriptors.CalcMolFormula(mol)
    core += f"; formula {formula}, {heavy} heavy atoms"

    size, size_band = _band(d["molecular_weight"], SIZE_BANDS)
    lipo, lipo_band = _band(d["logp"], LIPOPHILICITY_BANDS)
    polar, polar_band = _band(d["tpsa"], POLARITY_BANDS)
    flex, flex_band = _band(d["rotatable_bonds"], FLEXIBILITY_BANDS)
    state = ("zwitterionic" if negative and positive else "anionic" if negative
             else "cationic" if positive else "neutral")
    net = positive - negative
    charge = (f"formal charge {d['formal_charge']:+d} as drawn" if d["formal_charge"] else "formal charge 0") + \
        f"; estimated {state} at pH 7" + (f" (net {net:+d})" if net else "")
    if charged:
        charge += ": " + ", ".join(charged)
    if weak:
        charge += "; " + ", ".join(weak)

    aromatic_desc = (f"{_plural(n_rings, 'ring')} ({_plural(d['aromatic_rings'], 'aromatic ring')}, "
                     f"{n_hetero_aromatic} heteroaromatic, {n_aliphatic} aliphatic) in "
                     f"{_plural(len(systems), 'ring system')}") if n_rings else "no rings"
    if systems:
        sizes = sorted(Counter(len(r) for r in atom_rings).items())
        aromatic_desc += "; ring sizes " + ", ".join(f"{n} x {s}-membered" for s, n in sizes)
        largest = max(len(s) for s in systems)
        if largest > 6:
            aromatic_desc += f"; largest fused system has {largest} atoms"

    notes = [_rule_of_five(d), _veber(d)]
    alerts = [name for name in ("ester", "aldehyde", "epoxide", "nitro", "azo", "acyl halide", "anhydride",
                                "alpha,beta-unsaturated carbonyl", "thiol", "alkyl halide", "beta-lactam")
              if name in groups]
    if alerts:
        notes.append(f"Groups often flagged as reactive or labile: {', '.join(alerts)}.")
    if state != "neutral":
        notes.append("Groups ionised at physiological pH raise solubility and lower passive permeability.")
    if d["aromatic_rings"] >= 3:
        notes.append("With 3 or more aromatic rings it is flat and aromatic-rich, which tends to lower solubility.")
    elif fsp3 >= 0.5:
        notes.append("A fraction of sp3 carbons of 0.5 or more makes it three-dimensional and saturated.")

    return {
        "basic_identity": {"core_scaffold": core},
        "physicochemical_profile": {
            "size": f"{size} (MW {d['molecular_weight']:.1f} Da, band {size_band})",
            "lipophilicity": f"{lipo} (Crippen logP {d['logp']:.2f}, band {lipo_band})",
            "polarity": f"{polar} (TPSA {d['tpsa']:.1f} A^2, band {polar_band})",
            "hydrogen_bonding": f"{_plural(d['h_bond_donors'], 'donor')} and "
                                f"{_plural(d['h_bond_acceptors'], 'acceptor')}",
            "flexibility": f"{flex} ({_plural(d['rotatable_bonds'], 'rotatable bond')}, band {flex_band}); "
                           f"fraction sp3 carbons {fsp3:.2f}",
            "charge_state": charge,
        },
        "structural_features": {
            "rings_and_aromaticity": aromatic_desc,
            "key_functional_groups": _counted(groups) if groups else "no common functional groups",
            "substitution_pattern": _substitution(mol, atom_rings, _element_counts(formula)),
            "stereochemistry": _stereo(mol, scratch),  # last: it may change mol
        },
        "general_medicinal_chemistry_notes": notes,
    }


def _rule_of_five(d: dict[str, Any]) -> str:
    broken = [text for text, bad in (("MW > 500", d["molecular_weight"] > 500), ("logP > 5", d["logp"] > 5),
                                     ("HBD > 5", d["h_bond_donors"] > 5), ("HBA > 10", d["h_bond_acceptors"] > 10))
              if bad]
    if not broken:
        return "Passes Lipinski's rule of five."
    return f"Breaks Lipinski's rule of five: {', '.join(broken)}."


def _veber(d: dict[str, Any]) -> str:
    ok = d["rotatable_bonds"] <= 10 and d["tpsa"] <= 140
    return ("Passes" if ok else "Fails") + " Veber's limits (rotatable bonds <= 10, TPSA <= 140)."
