"""Directories the toolkit reads from and writes to, each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

EMBEDDED_DIR = Path(__file__).parent / "embedded"


def cache_dir() -> Path:
    """Download cache: ``$LGMCL_CACHE``, else ``$XDG_CACHE_HOME/lgmcl`` (``~/.cache/lgmcl``)."""
    if os.environ.get("LGMCL_CACHE"):
        return Path(os.environ["LGMCL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lgmcl"


def shared_data_dir() -> Path | None:
    """The project's ``../shared/data`` (real MoleculeNet and MOSES files) used by tests and benchmarks.

    ``$LGMCL_SHARED_DATA``, when set, wins: a folder holding ``moleculenet/``, else None, so that
    ``LGMCL_SHARED_DATA=""`` hides ../shared (a clone with nothing beside it, as ``.ci/run`` tests).
    Otherwise the first ``shared/data`` found beside the working directory or the source tree,
    walking upwards. None when there is none (an installed wheel).
    """
    if "LGMCL_SHARED_DATA" in os.environ:
        given = os.environ["LGMCL_SHARED_DATA"]
        path = Path(given).expanduser()
        return path if given and (path / "moleculenet").is_dir() else None
    for start in (Path.cwd(), Path(__file__).resolve()):
        for parent in [start, *start.parents]:
            candidate = parent / "shared" / "data"
            if (candidate / "moleculenet").is_dir():
                return candidate
    return None
