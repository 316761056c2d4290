"""Atomic writes: the file appears whole, with the permissions a plain open() gives."""

import os
import stat
from pathlib import Path

from lgmcl_dgl.data.artifacts import (LOCK, atomic_write_bytes, entries_besides_locks, remove_leftover_temporaries,
                                     temporary_beside)


def test_atomic_write_gives_plain_file_permissions_and_leaves_no_temporary(tmp_path):
    old = os.umask(0o022)
    try:
        written = atomic_write_bytes(tmp_path / "sub" / "result.json", b"{}")
        plain = tmp_path / "plain.txt"
        plain.write_bytes(b"x")
    finally:
        os.umask(old)
    assert written.read_bytes() == b"{}"
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert sorted(p.name for p in written.parent.iterdir()) == ["result.json"]


def test_a_temporary_file_left_by_a_kill_is_not_work(tmp_path):
    """A kill during the first atomic write of a step leaves only that step's lock and a temporary file:
    the rerun must see an empty output, not refuse it as someone else's."""
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK).touch()
    fd, _ = temporary_beside(out / "finetune_config.json")
    os.close(fd)
    assert entries_besides_locks(out) == []
    atomic_write_bytes(out / "finetune_config.json", b"{}")
    assert entries_besides_locks(out) == [out / "finetune_config.json"]


def test_the_lock_holder_removes_temporary_files_a_killed_job_left(tmp_path):
    (tmp_path / "seed_0").mkdir()
    left = []
    for path in (tmp_path / "model_config.json", tmp_path / "seed_0" / "metrics.json"):
        fd, name = temporary_beside(path)
        os.close(fd)
        left.append(Path(name))
    kept = [tmp_path / ".lock", tmp_path / "seed_0" / "metrics.json", tmp_path / ".step-000000001.x1y2z3.tmp"]
    kept[-1].mkdir()  # a checkpoint's temporary directory: the checkpoint code prunes those
    for path in kept[:-1]:
        path.touch()
    remove_leftover_temporaries(tmp_path, recursive=False)
    assert not left[0].exists() and left[1].exists()
    remove_leftover_temporaries(tmp_path)
    assert not left[1].exists() and all(path.exists() for path in kept)
