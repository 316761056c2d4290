"""Helpers for tests that run the package in a child process: its environment, stopping it, locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lgmcl_dgl.data.artifacts import exclusive


def child_env() -> dict[str, str]:
    """The environment of a child Python that imports this module and this checkout's package."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}


def sigterm_after_epochs(child: subprocess.Popen, epoch_log: Path, epochs: int, wait: float) -> str:
    """SIGTERM ``child`` once ``epoch_log`` holds ``epochs`` epochs (or after ``wait`` seconds); its stderr."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and child.poll() is None:
        if epoch_log.is_file() and epoch_log.read_text().count("\n") >= epochs + 1:  # header + epochs
            break
        time.sleep(0.2)
    child.send_signal(signal.SIGTERM)
    return child.communicate(timeout=120)[1]


def waits_for_lock(argv: list[str], lock: Path, log: Path, wait: float = 120) -> subprocess.CompletedProcess:
    """Run ``argv`` (stderr to ``log``) while this process holds ``lock``; return it once it has finished after
    the release. Fails unless the child said it was waiting and wrote no manifest while the lock was held."""
    with exclusive(lock), open(log, "w") as stderr:
        child = subprocess.Popen(argv, env=child_env(), stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        deadline = time.monotonic() + wait
        while "waiting for it to finish" not in log.read_text() and time.monotonic() < deadline:
            assert child.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
        assert "another process is writing here" in log.read_text(), log.read_text()[-2000:]
        assert child.poll() is None and not (lock.parent / "manifest.json").exists()
    child.wait(timeout=wait)
    return subprocess.CompletedProcess(argv, child.returncode, None, log.read_text())
