"""RDKit's messages during a run: kept in the run's log file and summed up in one line, not printed one by one.

RDKit prints each warning to stderr: a scaffold split of BBBP alone gives 86 lines of 'not removing
hydrogen atom without neighbors'. Routed to Python's logging (``load._rdkit_log``), they are appended
to the log file instead, by this process and by the worker processes it forks while the file is open;
on leaving, one line says how many there were, the most frequent, and where they are.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lgmcl_dgl.data.load import _rdkit_log

log = logging.getLogger(__name__)

_LINE = re.compile(r"^rdkit (?P<level>[A-Z]+) (?P<message>.*)$")


class _ToFile(logging.Handler):
    """``rdkit LEVEL message`` lines, without RDKit's own timestamp and level; flushed at once, so the forked workers
    sharing the file interleave whole lines."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.file = open(path, "a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().split("] ", 1)[-1].strip().removeprefix(f"{record.levelname}: ")
        self.file.write(f"rdkit {record.levelname} {message}\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        super().close()


@contextmanager
def rdkit_messages_logged(path: str | Path) -> Iterator[None]:
    """Append RDKit's messages to ``path`` while inside; then log one summary line if there were any."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = path.stat().st_size if path.is_file() else 0
    logger = logging.getLogger("rdkit")
    _rdkit_log()  # RDKit -> Python logging, RDKit's own printing to stderr off
    handler = _ToFile(path)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        summary = summarize(path, start)
        if summary:
            log.info(summary)


def summarize(path: Path, start: int = 0) -> str:
    """``RDKit: 90 messages (86x 'WARNING: not removing hydrogen atom without neighbors', ...), in PATH``
    for the lines after byte ``start``; "" when there are none."""
    with open(path, "rb") as handle:
        handle.seek(start)
        lines = handle.read().decode("utf-8", errors="replace").splitlines()
    counts = Counter(f"{m['level']}: {m['message']}" for line in lines if (m := _LINE.match(line)))
    if not counts:
        return ""
    common = ", ".join(f"{n}x '{message}'" for message, n in counts.most_common(2))
    more = ", ..." if len(counts) > 2 else ""
    return f"RDKit: {sum(counts.values())} messages ({common}{more}), in {path}"
