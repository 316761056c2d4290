"""Atomic writes: the file appears whole, with the permissions a plain open() gives."""

import os
import stat

from lgmcl_dgl.data.artifacts import LOCK, atomic_write_bytes, entries_besides_locks, temporary_beside


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
    fd, temporary = temporary_beside(out / "finetune_config.json")
    os.close(fd)
    assert entries_besides_locks(out) == []
    atomic_write_bytes(out / "finetune_config.json", b"{}")
    assert entries_besides_locks(out) == [out / "finetune_config.json"]
