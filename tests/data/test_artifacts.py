"""Atomic writes: the file appears whole, with the permissions a plain open() gives."""

import os
import stat

from lgmcl_dgl.data.artifacts import atomic_write_bytes


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
