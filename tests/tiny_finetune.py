"""Helpers for tests that fine-tune: a tiny model config and BBBP slices."""

from __future__ import annotations

from pathlib import Path

from lgmcl_dgl.finetune import FinetuneConfig

#: A model small enough to train in seconds on one core; every branch is on.
TINY_MODEL = {"embed_dim": 32, "local.hidden": 32, "local.layers": 1, "global.d_model": 32, "global.heads": 2,
              "global.layers": 1, "global.ffn_dim": 64, "text.vocab_size": 300, "text.hidden": 32, "text.layers": 1,
              "text.heads": 2, "text.intermediate": 64, "text.max_length": 48, "head.fingerprint_hidden": [64, 32],
              "head.task_hidden": 32}


def slice_csv(source: Path, path: Path, n: int, extra_rows: tuple[str, ...] = ()) -> Path:
    """The header and first ``n`` data rows of ``source``, plus ``extra_rows``."""
    lines = source.read_text().splitlines()
    path.write_text("\n".join(lines[:n + 1] + list(extra_rows)) + "\n")
    return path


def tiny_config(**changes) -> FinetuneConfig:
    settings = dict(overrides=TINY_MODEL, epochs=2, patience=None, batch_size=32, split_sizes=(0.6, 0.2, 0.2),
                    jobs=1, progress=False, device="cpu")
    settings.update(changes)
    return FinetuneConfig(**settings)
