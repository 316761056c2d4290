"""Shared fixtures: the real data in ../shared/data (or $LGMCL_SHARED_DATA), and a private cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgmcl_dgl.data.locations import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.fail("../shared/data not found; set LGMCL_SHARED_DATA to the folder holding moleculenet/ and pretrain/")
    return path


@pytest.fixture(scope="session")
def moleculenet(shared_data: Path) -> Path:
    return shared_data / "moleculenet"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real cache."""
    monkeypatch.setenv("LGMCL_CACHE", str(tmp_path_factory.mktemp("cache")))
