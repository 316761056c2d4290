"""Options shared by several subcommands, defined once."""

from __future__ import annotations

import click
import yaml

from lgmcl_dgl.data.load import DEFAULT_ENCODING, InputError


def input_options(func):
    """INPUT columns: which column holds SMILES and which hold targets; the file's encoding."""
    func = encoding_option(func)
    func = click.option("--target-columns", default=None,
                        help="Comma-separated label columns (default: the registry's, or the numeric columns "
                             "that are not ID-like, printed).")(func)
    func = click.option("--smiles-column", default=None,
                        help="Column holding SMILES (default: the registry's, or a column named like 'smiles').")(func)
    return func


RUN_SMILES_COLUMN_HELP = ("Column holding SMILES (default: the column RUN was trained on if INPUT has it, else a "
                          "column named like 'smiles').")


def encoding_option(func):
    """``--encoding`` of the input file, checked against Python's codecs before any work."""
    return click.option("--encoding", default=DEFAULT_ENCODING, callback=_known_encoding,
                        help="Text encoding of INPUT, e.g. latin-1 or cp1252 for files saved by older spreadsheets.")(func)


def _known_encoding(ctx, param, value: str) -> str:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252)") from None
    return value


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


def parse_pairs(values: tuple[str, ...], what: str) -> dict[str, object]:
    """``key=value`` pairs; values parsed as YAML scalars (numbers, booleans, lists)."""
    pairs = {}
    for item in values:
        for part in item.split(",") if what == "weights" else [item]:
            key, sep, raw = part.partition("=")
            if not sep or not key.strip():
                raise click.BadParameter(f"{part!r}: expected KEY=VALUE", param_hint=f"--{what}")
            pairs[key.strip()] = yaml.safe_load(raw)
    return pairs


def run_api(call, *args, **kwargs):
    """Call the API; turn the errors users cause into one clear line instead of a traceback."""
    from lgmcl_dgl.data.artifacts import ArtifactError
    from lgmcl_dgl.data.registry import DownloadError

    try:
        return call(*args, **kwargs)
    except (InputError, DownloadError, ArtifactError, FileNotFoundError, KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0]) if exc.args else str(exc)) from exc
