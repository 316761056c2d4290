"""``lgmcl datasets``: the MoleculeNet registry, and fetching a set into the cache."""

from __future__ import annotations

import click

from lgmcl_dgl.cli.options import run_api
from lgmcl_dgl.data import registry


@click.command()
@click.option("--fetch", "fetch_name", metavar="NAME", default=None, help="Download NAME into the cache and print its path.")
@click.option("--base-url", default=None, help="Mirror to download from (default: $LGMCL_DATA_URL or DeepChem's S3).")
def datasets(fetch_name: str | None, base_url: str | None) -> None:
    """List the registry's datasets (task type, tasks, metric, rows), or fetch one."""
    if fetch_name:
        click.echo(run_api(registry.fetch, fetch_name, url=base_url))
        return
    click.echo(f"{'name':<14}{'type':<16}{'tasks':>6}{'metric':>9}{'rows':>8}  columns / description")
    for spec in registry.DATASETS.values():
        tasks = spec.task_columns
        columns = ", ".join(tasks) if tasks and len(tasks) <= 3 else (f"{tasks[0]} ... {tasks[-1]}" if tasks else "all but smiles")
        click.echo(f"{spec.name:<14}{spec.task_type:<16}{spec.n_tasks:>6}{spec.metric:>9}{spec.n_rows:>8}  "
                   f"{columns} / {spec.description}")
