"""``lgmcl featurize``: graphs + fingerprints of every input row, stored once for every later step."""

from __future__ import annotations

import logging

import click

from lgmcl_dgl.cli.options import input_options, run_api, split_columns


@click.command()
@click.argument("input_", metavar="INPUT")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (shards, invalid.csv, manifest.json).")
@input_options
@click.option("--atom-featurizer", type=click.Choice(["attentivefp", "paper"]), default="attentivefp",
              help="attentivefp: dgllife's AttentiveFP atom/bond features (39/10 dims); "
                   "paper: the reference implementation's 57/15 dims.")
@click.option("--fingerprints", default="maccs,pubchem,erg", help="Comma-separated, in this order of columns.")
@click.option("--shard-size", type=click.IntRange(min=1), default=1000, help="Molecules per shard (the unit of resume).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores].")
@click.option("--shard-index", type=click.IntRange(min=0), default=None,
              help="Featurize only the shards k with k %% NUM_SHARDS == SHARD_INDEX (one task of a cluster array job).")
@click.option("--num-shards", type=click.IntRange(min=1), default=None, help="Number of slices the work is split into.")
@click.option("--merge", is_flag=True, help="Join the shards the slices wrote into OUT and write the manifest.")
@click.option("--force", is_flag=True, help="Recompute everything (ignore the cache and finished shards).")
def featurize(input_: str, out_dir: str, smiles_column: str | None, target_columns: str | None, encoding: str,
              atom_featurizer: str, fingerprints: str, shard_size: int, jobs: int | None, shard_index: int | None,
              num_shards: int | None, merge: bool, force: bool) -> None:
    """Featurize INPUT (a dataset name, a CSV or a SMILES file) into OUT.

    Interrupted runs resume from their finished shards; rerunning with the same input and
    settings does nothing.
    """
    from lgmcl_dgl.data.artifacts import Manifest
    from lgmcl_dgl.featurize.pipeline import FeaturizeConfig
    from lgmcl_dgl.featurize.pipeline import featurize as run_featurize

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = run_api(FeaturizeConfig, smiles_column=smiles_column, target_columns=split_columns(target_columns),
                     atom_featurizer=atom_featurizer, fingerprints=tuple(split_columns(fingerprints) or ()),
                     shard_size=shard_size, jobs=jobs, shard_index=shard_index, num_shards=num_shards,
                     merge=merge, force=force, encoding=encoding)
    out = run_api(run_featurize, input_, out_dir, config)
    if num_shards is None:
        counts = Manifest.read(out).counts
        click.echo(f"{out}: {counts['n_valid']} of {counts['n_input']} molecules featurized, "
                   f"{counts['n_invalid']} invalid (invalid.csv)")
    else:
        click.echo(f"{out}: slice {shard_index} of {num_shards} done")
