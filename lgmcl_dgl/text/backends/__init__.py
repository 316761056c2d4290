"""Description backends behind one interface, the LLM prompt they share, and their on-disk cache.

A backend takes prepared molecules (any iterable, consumed lazily) and yields ``(molecule, Outcome)``
pairs as each finishes, in any order, so the augment step can append records as they complete.
The rdkit backend needs only the molecule and runs inside the parallel preparation step
(``lgmcl_dgl.text.augment.prepare_molecule``); the others are built by ``make_backend``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lgmcl_dgl.text.describe import SCHEMA, render

if TYPE_CHECKING:
    from lgmcl_dgl.text.augment import PreparedMolecule

BACKENDS = ("rdkit", "openai", "hf", "import")
PROMPT_VERSION = "lgmcl-llm-v1"  # bump when the prompt below changes: it is part of every cache key


class BackendError(RuntimeError):
    """The backend cannot work at all (bad URL, refused key, unknown model): stop rather than fail every molecule."""


@dataclass
class Outcome:
    description: str | None  # rendered text, None when the backend failed on this molecule
    error: str | None = None
    retries: int = 0
    cached: bool = False
    fallback: bool = False


class Backend(Protocol):
    name: str
    model: str
    prompt_version: str

    def run(self, molecules: Iterable["PreparedMolecule"]) -> Iterator[tuple["PreparedMolecule", Outcome]]: ...

    def close(self) -> None: ...


@dataclass
class Report:
    """What a run did, for the final message and the manifest."""

    ok: int = 0
    cached: int = 0
    retried: int = 0
    failed: int = 0
    fallback: int = 0
    reasons: Counter = field(default_factory=Counter)  # backend failures, including those the fallback filled

    def add(self, outcome: Outcome) -> None:
        self.cached += outcome.cached
        self.retried += outcome.retries > 0
        self.fallback += outcome.fallback
        if outcome.error is not None:  # failed at the backend, whether or not the fallback filled in
            self.reasons[outcome.error] += 1
        if outcome.description is None:
            self.failed += 1
        else:
            self.ok += 1

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cached": self.cached, "retried": self.retried, "failed": self.failed,
                "fallback": self.fallback, "failure_reasons": dict(self.reasons.most_common())}

    def summary(self) -> str:
        text = (f"{self.ok} described ({self.cached} from cache, {self.fallback} by rdkit fallback), "
                f"{self.retried} needed retries, {self.failed} failed")
        if self.reasons:
            text += "; backend failures: " + "; ".join(f"{n} x {r}" for r, n in self.reasons.most_common(5))
        return text


_SYSTEM = ("You are a medicinal chemist who writes short, factual descriptions of molecules. "
           "You only state what follows from the structure and the computed values you are given.")

_SKELETON = json.dumps({section: ({k: "..." for k in keys} if keys else ["...", "..."])
                        for section, keys in SCHEMA.items()}, indent=1)


def build_messages(smiles: str, descriptors: dict[str, Any]) -> list[dict[str, str]]:
    """The paper's prompt, in our words: SMILES, the 8 RDKit descriptors, rules, and the JSON shape."""
    values = "\n".join(f"- {name.replace('_', ' ')}: {value}" for name, value in descriptors.items())
    user = (f"Molecule (SMILES): {smiles}\n"
            f"Computed with RDKit:\n{values}\n\n"
            "Describe this molecule for a chemist. Rules:\n"
            "- Use only the structure and the values above; do not invent numbers or properties.\n"
            "- Do not mention any dataset, assay, biological target, task or measured endpoint.\n"
            "- general_medicinal_chemistry_notes holds 2 to 5 generic sentences.\n"
            "- Answer with one JSON object and nothing else, with exactly these keys:\n"
            f"{_SKELETON}")
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


class DescriptionCache:
    """SQLite file of validated answers keyed by (model, prompt version, canonical SMILES); thread-safe.

    Reruns and resumed runs read from it, so no molecule is paid for twice.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, prompt_version TEXT, "
                         "smiles TEXT, fields TEXT)")
        self._db.commit()

    @staticmethod
    def key(model: str, prompt_version: str, smiles: str) -> str:
        return hashlib.sha256(f"{model}\0{prompt_version}\0{smiles}".encode()).hexdigest()

    def get(self, model: str, prompt_version: str, smiles: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT fields FROM answers WHERE key = ?",
                                   (self.key(model, prompt_version, smiles),)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, model: str, prompt_version: str, smiles: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                             (self.key(model, prompt_version, smiles), model, prompt_version, smiles,
                              json.dumps(fields)))
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def default_cache_path() -> Path:
    from lgmcl_dgl.data.locations import cache_dir

    return cache_dir() / "descriptions.sqlite"


def cached_outcome(cache: DescriptionCache | None, model: str, smiles: str) -> Outcome | None:
    if cache is None:
        return None
    fields = cache.get(model, PROMPT_VERSION, smiles)
    return Outcome(render(fields), cached=True) if fields is not None else None


def make_backend(name: str, **options: Any) -> Backend:
    """An LLM or import backend from its options (see each backend's config dataclass)."""
    if name == "openai":
        from lgmcl_dgl.text.backends.openai import OpenAIBackend, OpenAIConfig

        return OpenAIBackend(OpenAIConfig(**options))
    if name == "hf":
        from lgmcl_dgl.text.backends.hf import HFBackend, HFConfig

        return HFBackend(HFConfig(**options))
    if name == "import":
        from lgmcl_dgl.text.backends.imported import ImportBackend, ImportConfig

        return ImportBackend(ImportConfig(**options))
    raise ValueError(f"unknown description backend {name!r}; choose one of {', '.join(BACKENDS)}")


def with_fallback(molecule: "PreparedMolecule", outcome: Outcome, fallback: str | None) -> Outcome:
    """A failed outcome replaced by the rdkit description, flagged, when ``fallback == 'rdkit'``."""
    if outcome.description is not None or fallback is None:
        return outcome
    if fallback != "rdkit":
        raise ValueError(f"unknown fallback {fallback!r}; the only fallback is 'rdkit'")
    from lgmcl_dgl.text.augment import rdkit_description

    return Outcome(rdkit_description(molecule.canonical), error=outcome.error, retries=outcome.retries,
                   fallback=True)


def describe_prepared(molecules: list["PreparedMolecule"], backend: str, *, fallback: str | None = None,
                      **options: Any) -> list[Outcome]:
    """Outcomes for ``molecules`` in their order (for ``describe``; augment streams instead)."""
    if backend == "rdkit":
        return [Outcome(m.description) for m in molecules]
    instance = make_backend(backend, **options)
    try:
        by_row = {m.row: with_fallback(m, o, fallback) for m, o in instance.run(molecules)}
    finally:
        instance.close()
    return [by_row[m.row] for m in molecules]
