"""Shared fixtures: real data shipped with the tests, the full upstream files where present, a private cache.

Tests read small real slices (tests/slices, see its SOURCES.md) and the BBBP file the package ships,
so a clone with nothing beside it runs the whole suite. Tests that need whole upstream files (checksums
of the full downloads) carry ``@pytest.mark.shared`` and are skipped, saying why, where ../shared/data
is absent or hidden (``LGMCL_SHARED_DATA=""``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lgmcl_dgl.data.locations import shared_data_dir
from lgmcl_dgl.data.registry import EMBEDDED

SLICES = Path(__file__).parent / "slices"


def pytest_collection_modifyitems(config, items) -> None:
    if shared_data_dir() is not None:
        return
    given = os.environ.get("LGMCL_SHARED_DATA")
    why = ("none found beside the project (set LGMCL_SHARED_DATA to the folder holding moleculenet/)" if given is None
           else "hidden by LGMCL_SHARED_DATA=''" if not given else f"LGMCL_SHARED_DATA={given!r} holds no moleculenet/")
    reason = f"needs the full upstream files of ../shared/data, which are not shipped with the tests: {why}"
    for item in items:
        if item.get_closest_marker("shared") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory) -> Path:
    """The layout of ../shared/data (moleculenet/, pretrain/) holding the shipped slices and the package's BBBP."""
    root = tmp_path_factory.mktemp("sample_data")
    shutil.copytree(SLICES / "moleculenet", root / "moleculenet")
    shutil.copytree(SLICES / "pretrain", root / "pretrain")
    shutil.copyfile(EMBEDDED["bbbp"], root / "moleculenet" / "BBBP.csv")
    return root


@pytest.fixture(scope="session")
def moleculenet(sample_data: Path) -> Path:
    return sample_data / "moleculenet"


@pytest.fixture
def shared_data(request) -> Path:
    """The full files of ../shared/data; only for tests marked ``shared`` (skipped when there are none)."""
    path = shared_data_dir()
    if path is None or request.node.get_closest_marker("shared") is None:
        pytest.fail("the shared_data fixture is for tests marked @pytest.mark.shared, which are skipped without it")
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real cache."""
    monkeypatch.setenv("LGMCL_CACHE", str(tmp_path_factory.mktemp("cache")))
