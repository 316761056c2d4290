"""Helpers for comparing featurize directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lgmcl_dgl.data.artifacts import LOCK


def directory_contents(path: Path) -> dict[str, bytes | dict]:
    """Every file's bytes (the manifest without its creation time, no lock files): two runs must give equal dicts."""
    contents: dict[str, bytes | dict] = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(LOCK)):
        name = str(file.relative_to(path))
        if name == "manifest.json":
            manifest = json.loads(file.read_text())
            manifest.pop("created")
            contents[name] = manifest
        else:
            contents[name] = file.read_bytes()
    return contents


@pytest.fixture
def edge_case_csv(tmp_path: Path) -> Path:
    macrocycle = "C1" + "C" * 158 + "C1"  # 160 heavy atoms
    rows = [("CCO", "1", ""), ("C", "0", "2.5"), ("[Na+].[Cl-]", "1", "1.0"), ("", "0", "1.0"),
            ("C1CC", "1", "0.5"), ("[NH4+]", "", "0.1"), ("CC(=O)[O-]", "0", ""), (macrocycle, "1", "3.0"),
            ("C(C)(C)(C)(C)C", "1", "0"), ("c1ccccc1", "0", "-1")]
    path = tmp_path / "edge.csv"
    path.write_text("smiles,active,logp\n" + "".join(f"{s},{a},{b}\n" for s, a, b in rows))
    return path


@pytest.fixture
def bbbp_slice_csv(moleculenet: Path, tmp_path: Path) -> Path:
    """The first 400 rows of BBBP (two of them invalid): big enough for many shards, quick to featurize."""
    lines = (moleculenet / "BBBP.csv").read_text().splitlines()[:401]
    path = tmp_path / "bbbp400.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
