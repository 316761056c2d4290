"""Artifact directories: atomic writes, checksums and the one manifest format every step shares.

A step writes its files, then ``manifest.json`` last and atomically: a directory whose manifest
exists is complete, so "is this step done?" has one answer everywhere.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import platform
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

MANIFEST = "manifest.json"
LOCK = ".lock"
#: what a write that names no file can fail with: the file system's faults, not a network's
_WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
_TRACKED_PACKAGES = ("lgmcl-dgl", "torch", "dgl", "dgllife", "rdkit", "transformers", "numpy", "scikit-learn", "scikit-fingerprints")


logger = logging.getLogger(__name__)


class ArtifactError(RuntimeError):
    """An artifact directory is missing, incomplete or was made from something else."""


@contextmanager
def exclusive(lock_path: str | os.PathLike, wait: bool = True) -> Iterator[None]:
    """Hold ``lock_path`` while one process writes an output. Two runs into one output (two terminals, a
    rerun beside a job still going) would otherwise interleave its files. The second waits, then finds the
    output done; with ``wait=False`` it stops at once with an error instead (a run that would only resume
    what the first is still training)."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise ArtifactError(f"{lock_path.parent}: another process is writing here (it holds {lock_path.name}); "
                                "let it finish or choose another output directory") from None
        logger.warning("%s: another process is writing here; waiting for it to finish", lock_path.parent)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def entries_besides_locks(directory: Path) -> list[Path]:
    """What ``directory`` holds (nothing if it does not exist), less the lock files of ``exclusive`` and the
    temporary files of atomic writes that a kill left behind: a lock is there as soon as a job starts, a
    temporary file before its first file is complete, so neither says the directory holds work."""
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if not p.name.startswith(LOCK) and not _TEMPORARY.match(p.name)]


_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.(tmp|part)$")  # the names temporary_beside gives


def remove_leftover_temporaries(directory: Path, recursive: bool = True) -> None:
    """Delete the temporary files that atomic writes of a killed job left in ``directory``. Only for the
    holder of the lock on all of ``directory`` (``recursive``) or on its top level: another writer's
    temporary files are files in progress."""
    if directory.is_dir():
        for path in directory.rglob(".*") if recursive else directory.glob(".*"):
            if _TEMPORARY.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)


def temporary_beside(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new temporary file next to ``path`` (same file system, so ``os.replace`` is atomic), created
    with the permissions a plain ``open`` gives under the user's umask (mkstemp's 0600 would hide
    results from the user's group)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}"
        try:
            with reported_as(path, tmp):
                return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), str(tmp)
        except FileExistsError:
            continue


@contextmanager
def reported_as(path: str | os.PathLike, *stand_ins: str | os.PathLike) -> Iterator[None]:
    """Make a file-system ``OSError`` raised inside name ``path``: one from a write or close (a full disk)
    names no file, one from a temporary file (``stand_ins``) names a file the user never sees; either way
    the error line ``lgmcl`` prints could not say where the fault is. Other errors (a refused connection
    inside the block) pass unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            if str(exc.filename) not in {str(p) for p in stand_ins}:
                raise
            code = exc.errno
        else:
            code = exc.errno if exc.errno is not None else _short_write_cause(Path(path))
            if code not in _WRITE_FAULTS:
                raise
        raise OSError(code, os.strerror(code) if code is not None else str(exc), str(path)) from exc


def _short_write_cause(path: Path) -> int | None:
    """numpy reports a short write as ``N requested and M written``, without the errno: a full file system
    (under a block left) is what makes one, so it becomes ENOSPC there."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return errno.ENOSPC if stats.f_bavail * stats.f_frsize < max(stats.f_bsize, 4096) else None


def write_synced(path: str | os.PathLike, data: bytes) -> Path:
    """Write and fsync ``path`` in place: for files inside a temporary directory that is renamed into place
    as a whole (a shard, a checkpoint), where a second temporary file per file would add nothing."""
    path = Path(path)
    with reported_as(path), open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", **open_options: Any) -> Iterator[IO]:
    """A file written beside ``path``, fsynced and renamed onto it when the block ends without error:
    readers never see half a file, also when it is streamed in pieces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with reported_as(path, tmp):
            with os.fdopen(fd, mode, **open_options) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths and numpy scalars to plain JSON types."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return obj


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class Manifest:
    """What made an artifact directory, from which inputs, with which settings and versions."""

    kind: str
    config: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)  # name -> sha256
    counts: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=package_versions)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def write(self, directory: str | os.PathLike) -> Path:
        return atomic_write_json(Path(directory) / MANIFEST, self)

    @classmethod
    def read(cls, directory: str | os.PathLike, kind: str | None = None) -> "Manifest":
        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise ArtifactError(f"{directory}: no {MANIFEST}; the step that writes it did not finish")
        data = json.loads(path.read_text())
        if kind is not None and data.get("kind") != kind:
            raise ArtifactError(f"{directory}: holds a {data.get('kind')!r} artifact, expected {kind!r}")
        return cls(**data)

    def matches(self, config: dict[str, Any], inputs: dict[str, str]) -> bool:
        """True when this manifest was made from the same inputs with the same settings (a cache hit)."""
        return to_jsonable(config) == self.config and inputs == self.inputs
