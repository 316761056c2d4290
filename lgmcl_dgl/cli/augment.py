"""``lgmcl augment``: descriptions and randomised SMILES for every molecule of an input."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lgmcl_dgl.cli.options import encoding_option, run_api
from lgmcl_dgl.text.backends import BACKENDS, BackendError

# backend -> the options it takes (CLI names as keyword arguments of its config dataclass)
_BACKEND_OPTIONS = {
    "rdkit": (),
    "openai": ("model", "base_url", "api_key_env", "concurrency", "timeout", "max_retries", "temperature", "cache"),
    "hf": ("model", "batch_size", "max_new_tokens", "temperature", "device", "cache"),
    "import": ("descriptions",),
}


@click.command()
@click.argument("source", metavar="INPUT")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (descriptions.jsonl, invalid.csv, failed.csv, manifest.json).")
@click.option("--backend", type=click.Choice(BACKENDS), default="rdkit",
              help="rdkit: computed facts, offline; openai: any OpenAI-compatible server; hf: local causal LM; "
                   "import: descriptions made elsewhere.")
@click.option("--n-smiles", type=int, default=0, help="Randomised SMILES views per molecule.")
@click.option("--seed", type=int, default=0, help="Seed of the SMILES views (and of hf sampling).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes for parsing, views and the rdkit backend (default: every usable core).")
@click.option("--smiles-column", default=None,
              help="Column holding SMILES (default: the registry's, or a column named like 'smiles').")
@encoding_option
@click.option("--shard-index", type=int, default=0,
              help="Describe only contiguous block SHARD_INDEX of NUM_SHARDS (one task of a cluster array job); "
                   "it goes to OUT/shards/.")
@click.option("--num-shards", type=int, default=1, help="Number of blocks the rows are cut into.")
@click.option("--merge", is_flag=True, help="Join the NUM_SHARDS finished blocks into OUT and write the manifest.")
@click.option("--fallback", type=click.Choice(["rdkit"]), default=None,
              help="Describe molecules the backend failed on with the rdkit backend (flagged per record).")
@click.option("--model", default=None, help="openai: the served model name; hf: a local directory or hub id.")
@click.option("--base-url", default="http://127.0.0.1:8000/v1", help="openai: server URL up to /v1.")
@click.option("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the API key.")
@click.option("--concurrency", type=int, default=8, help="openai: requests in flight.")
@click.option("--timeout", type=float, default=120.0, help="openai: seconds per request.")
@click.option("--max-retries", type=int, default=5, help="openai: retries on 429, 5xx, timeouts, bad answers.")
@click.option("--temperature", type=float, default=0.2, help="openai, hf: sampling temperature.")
@click.option("--batch-size", type=int, default=8, help="hf: prompts per generate call.")
@click.option("--max-new-tokens", type=int, default=768, help="hf: tokens generated per answer.")
@click.option("--device", default=None, help="hf: torch device (default cuda when available).")
@click.option("--cache", type=click.Path(dir_okay=False), default=None,
              help="openai, hf: answer cache file (default: descriptions.sqlite in the lgmcl cache).")
@click.option("--descriptions", type=click.Path(exists=True, dir_okay=False), default=None,
              help="import: CSV or JSONL keyed by id (1-based row), row (0-based) or smiles, with text.")
@click.option("--overwrite", is_flag=True,
              help="Replace what OUT holds and describe again (LLM answers still come from the --cache).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def augment(source: str, out_dir: Path, backend: str, n_smiles: int, seed: int, jobs: int | None,
            smiles_column: str | None, encoding: str,
            shard_index: int, num_shards: int, merge: bool, fallback: str | None, overwrite: bool, quiet: bool,
            **options) -> None:
    """Describe every molecule of INPUT (dataset name, CSV, SMILES file or featurize dir) into OUT.

    Rerunning with the same settings resumes where a killed run stopped.
    """
    from lgmcl_dgl.data.artifacts import Manifest
    from lgmcl_dgl.text.augment import AugmentConfig, augment as run_augment

    if backend == "hf":
        options["seed"] = seed
    wanted = _BACKEND_OPTIONS[backend] + (("seed",) if backend == "hf" else ())
    backend_options = {k: v for k, v in options.items() if k in wanted and v is not None}
    config = run_api(AugmentConfig, backend=backend, n_smiles=n_smiles, seed=seed, jobs=jobs,
                     smiles_column=smiles_column, shard_index=shard_index, num_shards=num_shards, fallback=fallback,
                     options=backend_options, merge=merge, overwrite=overwrite, progress=not quiet, encoding=encoding)
    try:
        out = run_api(run_augment, source, out_dir, config)
    except BackendError as exc:
        raise click.ClickException(f"{exc} (records written so far are kept; rerun to resume)") from exc
    manifest = Manifest.read(out)
    click.echo(f"{out}: {manifest.extra.get('summary', '')}")
    click.echo(json.dumps(manifest.counts))
