"""The import backend: descriptions made elsewhere, used as given (JSON or free text).

A CSV or JSONL file keyed, per line, by one of ``id`` (1-based data row: the reference
implementation released its LLM descriptions as CSV ``id,text``), ``row`` (0-based data row) or
``smiles`` (matched on canonical SMILES); the text is in ``text`` or ``description``. Molecules
the file does not describe come back as failures, so they are reported (or fall back to rdkit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rdkit import Chem

from lgmcl_dgl.data.artifacts import sha256_file
from lgmcl_dgl.data.load import InputError
from lgmcl_dgl.text.backends import Outcome

if TYPE_CHECKING:
    from lgmcl_dgl.text.augment import PreparedMolecule

KEYS = ("id", "row", "smiles")
TEXT_KEYS = ("text", "description")


@dataclass
class ImportConfig:
    descriptions: str  # the CSV or JSONL file


class ImportBackend:
    name = "import"

    def __init__(self, config: ImportConfig):
        self.path = Path(config.descriptions)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such descriptions file")
        self.model = f"import:{self.path.name}"
        self.prompt_version = f"sha256:{sha256_file(self.path)[:16]}"
        entries = self._read_jsonl() if self.path.suffix.lower() in (".jsonl", ".json") else self._read_csv()
        self.by_row: dict[int, str] = {}
        self.by_smiles: dict[str, str] = {}
        for line, key, value, text in entries:
            if key == "smiles":
                mol = Chem.MolFromSmiles(str(value))
                if mol is None:
                    raise InputError(f"{self.path}: line {line}: SMILES {value!r} does not parse")
                target, index = self.by_smiles, Chem.MolToSmiles(mol)
            else:
                try:
                    index = int(value) - (1 if key == "id" else 0)
                except (TypeError, ValueError):
                    raise InputError(f"{self.path}: line {line}: {key} {value!r} is not an integer") from None
                target = self.by_row
            if index in target:
                raise InputError(f"{self.path}: line {line}: {key} {value!r} is described twice")
            target[index] = text

    def _read_csv(self) -> list[tuple[int, str, Any, str]]:
        try:
            frame = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: not a readable CSV: {exc}") from None
        key = next((k for k in KEYS if k in frame.columns), None)
        text = next((k for k in TEXT_KEYS if k in frame.columns), None)
        if key is None or text is None:
            raise InputError(f"{self.path}: needs a key column ({' | '.join(KEYS)}) and a text column "
                             f"({' | '.join(TEXT_KEYS)}); columns are {list(frame.columns)}")
        return [(i + 2, key, k, t) for i, (k, t) in enumerate(zip(frame[key], frame[text]))]

    def _read_jsonl(self) -> list[tuple[int, str, Any, str]]:
        entries = []
        with open(self.path, encoding="utf-8") as handle:
            for line, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{self.path}: line {line}: not JSON ({exc.msg})") from None
                key = next((k for k in KEYS if k in obj), None)
                text = next((obj[k] for k in TEXT_KEYS if k in obj), None)
                if key is None or text is None:
                    raise InputError(f"{self.path}: line {line}: needs one of {KEYS} and one of {TEXT_KEYS}")
                entries.append((line, key, obj[key], text if isinstance(text, str) else json.dumps(text)))
        return entries

    def run(self, molecules: Iterable["PreparedMolecule"]) -> Iterator[tuple["PreparedMolecule", Outcome]]:
        for molecule in molecules:
            text = self.by_row.get(molecule.row)
            if text is None:
                text = self.by_smiles.get(molecule.canonical)
            if text is None or not text.strip():
                yield molecule, Outcome(None, error=f"no description in {self.path.name}")
            else:
                yield molecule, Outcome(text)

    def close(self) -> None:
        pass
