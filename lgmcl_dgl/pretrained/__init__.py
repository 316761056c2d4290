"""Pretrained models shipped with the package, each a directory named after what it was trained on."""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED_DIR = Path(__file__).parent


def shipped_names() -> list[str]:
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "model_config.json").is_file())


def resolve_pretrained(name_or_dir: str | os.PathLike) -> Path:
    """A shipped name (``zinc-small``) or a pretrain output directory -> the directory holding the model."""
    path = Path(name_or_dir)
    if path.is_dir():
        if not (path / "model_config.json").is_file():
            raise FileNotFoundError(f"{path}: no model_config.json; not a finished pretrain output directory")
        return path
    shipped = SHIPPED_DIR / str(name_or_dir)
    if str(name_or_dir) in shipped_names():
        return shipped
    raise FileNotFoundError(f"{name_or_dir}: not a directory and not a shipped pretrained model "
                            f"({', '.join(shipped_names()) or 'none shipped'})")
