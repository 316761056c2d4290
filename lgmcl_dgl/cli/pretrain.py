"""``lgmcl pretrain``: contrastive pretraining of the graph and text encoders on a SMILES corpus."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import click

from lgmcl_dgl.cli.options import atom_budget_option, encoding_option, parse_pairs, run_api, split_columns

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | None) -> float | None:
    """``90``, ``90s``, ``45m``, ``2.5h``, ``1d`` -> seconds."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if not match:
        raise click.BadParameter(f"{value!r}: expected seconds or a number with s/m/h/d, e.g. 2h")
    return float(match.group(1)) * _SECONDS[match.group(2)]


@click.command()
@click.argument("sources", metavar="INPUT...", nargs=-1, required=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory: checkpoints, logs, loss curve, and at the end the model and manifest.json.")
@click.option("--preset", default="small", help="Model preset (small, paper).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Model config YAML (replaces --preset).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one model config key, dotted allowed (e.g. text.max_length=128). Repeatable.")
@click.option("--objectives", default="graph,text,cross",
              help="graph: local vs global; text: SMILES vs description; cross: graph vs text.")
@click.option("--weights", multiple=True, metavar="NAME=W[,NAME=W]", help="Loss weight per objective (default 1).")
@click.option("--temperature", type=float, default=0.1, help="NT-Xent temperature.")
@click.option("--smiles-views", type=int, default=0,
              help="Randomised SMILES per molecule; the text objective shows one per epoch (0: canonical only).")
@click.option("--featurized", type=click.Path(exists=True, file_okay=False), default=None,
              help="Featurize output of INPUT to reuse (default: made under OUT/data).")
@click.option("--descriptions", type=click.Path(exists=True, file_okay=False), default=None,
              help="Augment output of INPUT to reuse, any backend (default: rdkit descriptions made under OUT/data).")
@click.option("--smiles-column", default=None, help="Column holding SMILES.")
@encoding_option
@click.option("--epochs", type=int, default=10)
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimiser steps in total.")
@click.option("--time-limit", default=None, help="Train this long in this invocation (e.g. 3600, 45m, 2h), then checkpoint and stop.")
@click.option("--batch-size", type=int, default=64, help="Molecules per micro-batch, over all processes.")
@click.option("--grad-accum", type=int, default=1, help="Micro-batches per optimiser step.")
@atom_budget_option
@click.option("--lr", type=float, default=5e-4)
@click.option("--weight-decay", type=float, default=1e-3)
@click.option("--optimizer", type=click.Choice(["adamw", "adam"]), default="adamw")
@click.option("--warmup-steps", type=int, default=200)
@click.option("--schedule", type=click.Choice(["cosine", "linear", "constant"]), default="cosine")
@click.option("--clip-norm", type=float, default=1.0, help="Gradient norm clip (0: off).")
@click.option("--seed", type=int, default=0)
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
@click.option("--amp/--no-amp", default=True, help="Mixed precision on CUDA.")
@click.option("--checkpoint-every", type=int, default=200, help="Optimiser steps between checkpoints.")
@click.option("--keep-last", type=int, default=3, help="Checkpoints kept.")
@click.option("--log-every", type=int, default=10, help="Optimiser steps between log rows.")
@click.option("--num-workers", type=int, default=0, help="Data-loading processes.")
@click.option("--jobs", type=int, default=1, help="Processes for featurize and augment.")
@click.option("--resume/--restart", default=True,
              help="Continue the run in OUT from its latest checkpoint (default), or start it again.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def pretrain(sources: tuple[str, ...], out_dir: Path, preset: str, config_file: str | None, overrides: tuple[str, ...],
             objectives: str, weights: tuple[str, ...], temperature: float, smiles_views: int,
             featurized: str | None, descriptions: str | None, smiles_column: str | None, encoding: str,
             time_limit: str | None, clip_norm: float, resume: bool, quiet: bool, jobs: int, **train_options) -> None:
    """Pretrain LGM-CL's encoders on INPUT (SMILES file, CSV, dataset name or featurize dir) into OUT.

    Several SMILES files or CSVs are joined into one corpus (OUT/data/corpus), one file at a time.

    Runs featurize and augment itself when INPUT is raw. Rerun the same command to continue a killed
    run; under torchrun (--nproc_per_node N, --nnodes M) the same command trains data-parallel.
    """
    from lgmcl_dgl.pretrain import PretrainConfig, pretrain as run_pretrain
    from lgmcl_dgl.train.loop import TrainConfig

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # which steps ran, resumed from where

    train = run_api(TrainConfig, **train_options, time_limit=parse_duration(time_limit), clip_norm=clip_norm or None,
                    resume=resume, progress=not quiet)
    config = run_api(PretrainConfig, preset=config_file or preset, overrides=parse_pairs(overrides, "set"),
                     objectives=tuple(split_columns(objectives) or ()), temperature=temperature,
                     weights=parse_pairs(weights, "weights"), smiles_views=smiles_views, smiles_column=smiles_column,
                     featurized=featurized, descriptions=descriptions, jobs=jobs, encoding=encoding, train=train)
    from lgmcl_dgl.train.distributed import is_main

    out = run_api(run_pretrain, list(sources), out_dir, config)
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    if manifest and is_main():
        click.echo(f"{out}: {json.dumps(manifest['counts'])}, stopped because {manifest['extra']['stopped_because']}")
