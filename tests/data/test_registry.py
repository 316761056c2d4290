"""The real download path against a server started here on 127.0.0.1, serving real MoleculeNet files.

The shipped ones (BBBP, ClinTox whole; the rest sliced) always; every upstream file of ../shared/data
where it exists (marked ``shared``)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import shutil
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from lgmcl_dgl.cli.main import cli
from lgmcl_dgl.data import registry
from lgmcl_dgl.data.load import resolve_source


@contextmanager
def _serving(root: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def served(tmp_path: Path, moleculenet: Path):
    """An HTTP server whose root is a copy of the tests' MoleculeNet files (so tests may tamper with it)."""
    root = tmp_path / "www"
    shutil.copytree(moleculenet, root)
    with _serving(root) as url:
        yield root, url


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args) -> None:
        _QuietHandler.requests.append(self.path)


def test_registry_lists_eleven_moleculenet_sets():
    assert set(registry.DATASETS) == {"bbbp", "bace", "clintox", "tox21", "toxcast", "sider", "hiv", "muv",
                                      "esol", "freesolv", "lipophilicity"}
    for spec in registry.DATASETS.values():
        assert len(spec.md5) == 32 and spec.metric in {"roc_auc", "rmse"}
        assert spec.task_columns is None or len(spec.task_columns) == spec.n_tasks


def test_default_url_is_deepchem(monkeypatch):
    monkeypatch.delenv("LGMCL_DATA_URL", raising=False)
    assert registry.base_url() + registry.get_spec("bbbp").filename == \
        "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/BBBP.csv"


@pytest.mark.parametrize("name", ["bbbp", "clintox"])  # the files the tests ship whole
def test_fetch_reproduces_upstream_bytes_and_caches(served, moleculenet, tmp_path, name):
    _, url = served
    _fetch_checked_and_cached(name, moleculenet, url, tmp_path / "cache")


@pytest.mark.shared
@pytest.mark.parametrize("name", ["bace", "tox21", "esol", "lipophilicity"])  # the other S3-md5-verified files
def test_fetch_reproduces_every_shared_upstream_file(shared_data, tmp_path, name):
    with _serving(shared_data / "moleculenet") as url:
        _fetch_checked_and_cached(name, shared_data / "moleculenet", url, tmp_path / "cache")


def _fetch_checked_and_cached(name: str, served_root: Path, url: str, cache: Path) -> None:
    path = registry.fetch(name, cache=cache, url=url)
    source = served_root / registry.get_spec(name).filename
    assert path.read_bytes() == source.read_bytes()
    assert hashlib.md5(path.read_bytes()).hexdigest() == registry.get_spec(name).md5
    _QuietHandler.requests.clear()
    assert registry.fetch(name, cache=cache, url=url) == path
    assert _QuietHandler.requests == []  # second call served from the cache


def test_tampered_file_is_refused_and_not_cached(served, tmp_path):
    root, url = served
    (root / "BBBP.csv").write_bytes((root / "BBBP.csv").read_bytes().replace(b"Propanolol", b"Propanolal", 1))
    cache = tmp_path / "cache"
    with pytest.raises(registry.DownloadError, match="checksum mismatch"):
        registry.fetch("bbbp", cache=cache, url=url)
    assert not any(p.name == "BBBP.csv" for p in cache.rglob("*"))


def test_a_cached_zip_member_is_checked_on_use(served, moleculenet, tmp_path, monkeypatch):
    """FreeSolv's CSV comes out of a zip whose MD5 is the upstream one: a cached CSV changed later (643 rows
    instead of 642) must not be used."""
    root, url = served
    archive = root / registry.get_spec("freesolv").filename
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(moleculenet / "delaney-processed.csv", "SAMPL.csv")  # any real CSV: the slices hold no SAMPL
    spec = dataclasses.replace(registry.get_spec("freesolv"), md5=hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setitem(registry.DATASETS, "freesolv", spec)
    cache = tmp_path / "cache"
    path = registry.fetch("freesolv", cache=cache, url=url)
    original = (moleculenet / "delaney-processed.csv").read_bytes()
    assert path.read_bytes() == original
    path.write_bytes(original + b"extra,C,0.0,0.0\n")
    _QuietHandler.requests.clear()
    assert registry.fetch("freesolv", cache=cache, url=url).read_bytes() == original
    assert _QuietHandler.requests == ["/" + spec.filename]  # fetched again, not used as it was
    _QuietHandler.requests.clear()
    assert registry.fetch("freesolv", cache=cache, url=url) == path and _QuietHandler.requests == []
    path.unlink()  # offline: the archive copied into the cache is verified and used, no download
    shutil.copy(archive, cache / "moleculenet" / archive.name)
    assert registry.fetch("freesolv", cache=cache, url=url).read_bytes() == original and _QuietHandler.requests == []


def test_missing_file_is_a_clear_error(served, tmp_path):
    root, url = served
    (root / "delaney-processed.csv").unlink()
    with pytest.raises(registry.DownloadError, match="HTTP 404"):
        registry.fetch("esol", cache=tmp_path / "cache", url=url)


def test_cli_fetch_uses_environment_mirror(served, monkeypatch, tmp_path, moleculenet):
    _, url = served
    monkeypatch.setenv("LGMCL_DATA_URL", url)
    result = CliRunner().invoke(cli, ["datasets", "--fetch", "clintox"])
    assert result.exit_code == 0, result.output
    assert Path(result.output.strip()).read_bytes() == (moleculenet / "clintox.csv.gz").read_bytes()


def test_cli_datasets_lists_all_names():
    result = CliRunner().invoke(cli, ["datasets"])
    assert result.exit_code == 0
    for name in registry.DATASETS:
        assert f"\n{name} " in result.output


def test_embedded_bbbp_is_the_upstream_file():
    path, spec = resolve_source("bbbp")
    assert spec.name == "bbbp"
    assert hashlib.md5(path.read_bytes()).hexdigest() == spec.md5
