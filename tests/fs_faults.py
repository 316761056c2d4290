"""Real file-system faults for tests: a small or read-only tmpfs, a command run as another user.

Mounting needs root (and a container that allows it); root ignores permission bits, so a lock without
permission needs a second user. Each helper skips its test, saying why, where that is impossible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = 65534


@contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. ``"64k"``) mounted at ``path`` for the block; skips when mounting is impossible."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path: Path, size: str) -> None:
    """Grow (or shrink) a tmpfs from ``tmpfs`` in place, keeping its files: the disk freed after a fault."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def as_another_user() -> list[str]:
    """A command prefix that runs as ``nobody`` (root reads and writes anything, whatever the permissions)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as another user needs setpriv(1)")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
