"""Options shared by several subcommands, defined once."""

from __future__ import annotations

import click

from lgmcl_dgl.data.load import InputError


def input_options(func):
    """INPUT columns: which column holds SMILES and which hold targets."""
    func = click.option("--target-columns", default=None,
                        help="Comma-separated label columns (default: the registry's, or every numeric column).")(func)
    func = click.option("--smiles-column", default=None,
                        help="Column holding SMILES (default: the registry's, or a column named like 'smiles').")(func)
    return func


def atom_budget_option(func):
    """--atom-budget: padded atom slots per batch, molecules of similar size together (train/batching.py)."""
    from lgmcl_dgl.train.batching import DEFAULT_ATOM_BUDGET

    return click.option("--atom-budget", type=click.IntRange(min=0), default=DEFAULT_ATOM_BUDGET, show_default=True,
                        help="Padded atom slots per batch (molecules x atoms of the largest; past 64 atoms its atom "
                             "pairs count): molecules of similar size batch together, at most --batch-size; a molecule "
                             "over the budget gets a batch of its own. 0: batches in random (or input) order, as "
                             "before.")(func)


def split_columns(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def run_api(call, *args, **kwargs):
    """Call the API; turn the errors users cause into one clear line instead of a traceback."""
    from lgmcl_dgl.data.artifacts import ArtifactError
    from lgmcl_dgl.data.registry import DownloadError

    try:
        return call(*args, **kwargs)
    except (InputError, DownloadError, ArtifactError, FileNotFoundError, KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0]) if exc.args else str(exc)) from exc
