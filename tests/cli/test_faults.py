"""File-system faults end as one line naming the path and the cause, lose nothing, and the rerun resumes.

Real faults where this machine allows them (a full and a read-only tmpfs, a lock another user cannot
open); the same faults injected at the OS calls everywhere, so the error path runs on any machine.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from fs_faults import as_another_user, remount, tmpfs

from lgmcl_dgl.cli.main import cli, describe_fault
from lgmcl_dgl.data.artifacts import LOCK, MANIFEST

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bbbp120(moleculenet, tmp_path) -> Path:
    lines = (moleculenet / "BBBP.csv").read_text().splitlines()[:121]
    path = tmp_path / "bbbp120.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def featurize(source: Path, out: Path):
    return CliRunner().invoke(cli, ["featurize", str(source), "-o", str(out), "--shard-size", "20", "-j", "1"])


def error_line(result) -> str:
    """The one line the user sees; a traceback would fail here."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def same_tree(a: Path, b: Path) -> bool:
    """Every file of two featurize outputs byte for byte, but the manifest's creation time."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name not in (MANIFEST, LOCK))
    if files != sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name not in (MANIFEST, LOCK)):
        return False
    return all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_full_disk_during_featurize_then_the_rerun_resumes(bbbp120, tmp_path, caplog):
    reference = tmp_path / "reference"
    assert featurize(bbbp120, reference).exit_code == 0
    with tmpfs(tmp_path / "disk", "500k") as disk:  # two of the six shards fit
        out = disk / "out"
        line = error_line(featurize(bbbp120, out))
        assert line.startswith(f"Error: cannot write {out}/") and line.endswith(": disk full"), line
        assert not (out / MANIFEST).exists()
        finished = sorted(p.name for p in (out / "shards").glob("shard-*"))
        assert 0 < len(finished) < 6
        remount(disk, "4m")
        caplog.set_level(logging.INFO)
        result = featurize(bbbp120, out)
        assert result.exit_code == 0, result.output
        assert f"{len(finished)} of 6 shards already done, resuming" in caplog.text
        assert same_tree(out, reference)


def test_full_disk_during_augment_then_the_rerun_resumes(bbbp120, tmp_path):
    def augment(out: Path):
        return CliRunner().invoke(cli, ["augment", str(bbbp120), "-o", str(out), "--jobs", "1"])

    reference = tmp_path / "reference"
    assert augment(reference).exit_code == 0
    with tmpfs(tmp_path / "disk", "64k") as disk:  # about a third of the descriptions fit
        out = disk / "out"
        assert error_line(augment(out)) == f"Error: cannot write {out / 'descriptions.jsonl'}: disk full"
        assert not (out / MANIFEST).exists()
        remount(disk, "4m")
        assert augment(out).exit_code == 0
        assert (out / "descriptions.jsonl").read_bytes() == (reference / "descriptions.jsonl").read_bytes()


def test_read_only_output_is_one_line(bbbp120, tmp_path):
    with tmpfs(tmp_path / "ro", "64k", read_only=True) as read_only:
        assert error_line(featurize(bbbp120, read_only / "out")) == \
            f"Error: cannot write {read_only / 'out'}: read-only file system"


def test_lock_without_permission_is_one_line(moleculenet):
    """Another user's output: its lock cannot be opened (a real EACCES, as another user when run by root)."""
    prefix = as_another_user()
    with tempfile.TemporaryDirectory() as folder:  # not under pytest's root-only tmp_path: the other user must reach it
        base = Path(folder)
        base.chmod(0o755)
        source = base / "tiny.csv"
        source.write_text("\n".join((moleculenet / "BBBP.csv").read_text().splitlines()[:6]) + "\n")
        source.chmod(0o644)
        out = base / "out"
        out.mkdir()
        (out / LOCK).touch()
        if not prefix:
            (out / LOCK).chmod(0o444)
            out.chmod(0o555)
        home = base / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home), "LGMCL_CACHE": str(home / "cache"),
               "OMP_NUM_THREADS": "1"}
        done = subprocess.run([*prefix, sys.executable, "-m", "lgmcl_dgl", "featurize", str(source), "-o", str(out)],
                              env=env, cwd=base, capture_output=True, text=True, timeout=300, check=False)
        out.chmod(0o755)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"Error: cannot use {out / LOCK}: permission denied", done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------- the same faults, injected at the OS calls

def _fail(code: int, when):
    """Wrap an ``os`` call to raise as the system does: naming the paths it was given (none for an fd)."""
    def fault(real):
        def call(*args, **kwargs):
            if when(*args):
                paths = [str(a) for a in args[:2] if isinstance(a, (str, os.PathLike))]
                raise OSError(code, os.strerror(code), *paths[:1], *([None, paths[1]] if len(paths) == 2 else []))
            return real(*args, **kwargs)
        return call
    return fault


@pytest.mark.parametrize("call, code, when, cause", [
    ("fsync", errno.ENOSPC, lambda fd: True, "disk full"),  # the kernel reports a full disk at write or fsync
    ("replace", errno.EROFS, lambda src, dst: True, "read-only file system"),
    ("open", errno.EACCES, lambda path, *_: str(path).endswith(LOCK), "permission denied"),
])
def test_injected_faults_are_one_line_and_lose_nothing(bbbp120, tmp_path, monkeypatch, call, code, when, cause):
    reference = tmp_path / "reference"
    assert featurize(bbbp120, reference).exit_code == 0
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(os, call, _fail(code, when)(getattr(os, call)))
        line = error_line(featurize(bbbp120, out))
    assert line.startswith("Error: cannot ") and f" {out}" in line and line.endswith(f": {cause}"), line
    assert not (out / MANIFEST).exists()
    result = featurize(bbbp120, out)
    assert result.exit_code == 0, result.output
    assert same_tree(out, reference)


def test_an_oserror_that_is_no_files_fault_is_not_blamed_on_one():
    assert describe_fault(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")) == \
        "connection refused (ConnectionRefusedError)"
    assert describe_fault(OSError(errno.ENOSPC, "No space left on device", "/out/x.npy")) == \
        "cannot write /out/x.npy: disk full"
