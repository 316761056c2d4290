"""The description schema (method.md), its validation and its rendering to text, and ``describe``.

Every backend fills the same JSON schema; the text encoder sees ``render(fields)``. ``describe``
serves molecules that have no augment directory (prediction on new molecules) with the backend
their model was trained with.
"""

from __future__ import annotations

import json
import re
from typing import Any

SCHEMA: dict[str, tuple[str, ...]] = {
    "basic_identity": ("core_scaffold",),
    "physicochemical_profile": ("size", "lipophilicity", "polarity", "hydrogen_bonding", "flexibility",
                                "charge_state"),
    "structural_features": ("rings_and_aromaticity", "key_functional_groups", "substitution_pattern",
                            "stereochemistry"),
    "general_medicinal_chemistry_notes": (),  # a list of 2-5 generic sentences
}
NOTES_KEY = "general_medicinal_chemistry_notes"
MAX_NOTES = 5

_LABELS = {"core_scaffold": "Core scaffold", "size": "Size", "lipophilicity": "Lipophilicity", "polarity": "Polarity",
           "hydrogen_bonding": "Hydrogen bonding", "flexibility": "Flexibility", "charge_state": "Charge state",
           "rings_and_aromaticity": "Rings and aromaticity", "key_functional_groups": "Key functional groups",
           "substitution_pattern": "Substitution pattern", "stereochemistry": "Stereochemistry"}


class DescriptionError(ValueError):
    """A description does not follow the schema; the message says what is wrong."""


def validate_fields(obj: Any) -> dict[str, Any]:
    """Check a parsed answer against the schema and return it normalised (strings stripped, notes a list)."""
    if not isinstance(obj, dict):
        raise DescriptionError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [section for section in SCHEMA if section not in obj]
    if missing:
        raise DescriptionError(f"missing section(s) {missing}")
    clean: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        if section == NOTES_KEY:
            notes = obj[section]
            notes = [notes] if isinstance(notes, str) else notes
            if not isinstance(notes, list) or not notes or not all(isinstance(n, str) and n.strip() for n in notes):
                raise DescriptionError(f"{section} must be a non-empty list of sentences")
            clean[section] = [n.strip() for n in notes[:MAX_NOTES]]
            continue
        block = obj[section]
        if not isinstance(block, dict):
            raise DescriptionError(f"{section} must be an object with keys {list(keys)}")
        absent = [k for k in keys if not _text(block.get(k))]
        if absent:
            raise DescriptionError(f"{section} lacks {absent}")
        clean[section] = {k: _text(block[k]) for k in keys}
    return clean


def _text(value: Any) -> str:
    """A field as one string: LLMs sometimes answer a list of phrases where a sentence was asked for."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v).strip() for v in value if str(v).strip())
    return ""


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_answer(text: str) -> dict[str, Any]:
    """A model's answer -> validated fields. Tolerates a Markdown fence or prose around one JSON object."""
    text = _FENCE.sub("", text.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0:
        raise DescriptionError("answer holds no JSON object")
    try:
        obj = json.loads(text[start:end + 1] if end > start else text[start:])
    except json.JSONDecodeError as exc:
        raise DescriptionError(f"answer is not valid JSON ({exc.msg})") from None
    return validate_fields(obj)


def render(fields: dict[str, Any]) -> str:
    """Validated fields -> the text the encoder reads: one labelled sentence per field, notes last."""
    lines = []
    for section, keys in SCHEMA.items():
        for key in keys:
            value = fields[section][key].rstrip(".")
            lines.append(f"{_LABELS[key]}: {value}.")
    lines.append("Notes: " + " ".join(n if n.endswith(".") else n + "." for n in fields[NOTES_KEY]))
    return "\n".join(lines)


def describe(smiles_list: list[str], backend: str = "rdkit", **options: Any) -> list[str]:
    """Descriptions for molecules with no augment directory, in input order.

    ``options`` go to the backend (e.g. ``base_url``, ``model`` for ``openai``) plus ``fallback="rdkit"``.
    Raises ``ValueError`` naming the first invalid SMILES or the first molecule no backend described.
    """
    from lgmcl_dgl.text.augment import prepare_molecule
    from lgmcl_dgl.text.backends import describe_prepared

    prepared = []
    for index, smiles in enumerate(smiles_list):
        molecule = prepare_molecule(index, smiles, with_rdkit=backend == "rdkit")
        if molecule.invalid:
            raise ValueError(f"SMILES {index} ({smiles!r}): {molecule.invalid}")
        prepared.append(molecule)
    fallback = options.pop("fallback", None)
    outcomes = describe_prepared(prepared, backend, fallback=fallback, **options)
    texts = []
    for molecule, outcome in zip(prepared, outcomes):
        if outcome.description is None:
            raise ValueError(f"SMILES {molecule.row} ({molecule.smiles!r}): no description ({outcome.error})")
        texts.append(outcome.description)
    return texts
