"""``lgmcl`` click group; subcommands live one per module beside this file."""

from __future__ import annotations

import errno

import click
from safetensors import SafetensorError

from lgmcl_dgl import __version__
from lgmcl_dgl.cli.datasets import datasets
from lgmcl_dgl.cli.featurize import featurize
from lgmcl_dgl.cli.augment import augment
from lgmcl_dgl.cli.pretrain import pretrain
from lgmcl_dgl.cli.finetune import finetune
from lgmcl_dgl.cli.evaluate import evaluate
from lgmcl_dgl.cli.predict import predict

#: errno -> (what could not be done, the cause in words); the rest print the system's own words
_FAULTS = {
    errno.ENOSPC: ("write", "disk full"),
    errno.EDQUOT: ("write", "disk quota exceeded"),
    errno.EFBIG: ("write", "file too large"),
    errno.EROFS: ("write", "read-only file system"),
    errno.EACCES: ("use", "permission denied"),
    errno.EPERM: ("use", "operation not permitted"),
}


def describe_fault(exc: OSError | SafetensorError) -> str:
    """One line for a file-system fault: ``cannot write PATH: disk full``. Every step writes its outputs so
    that such a fault loses nothing but the file in progress, and the rerun resumes."""
    if isinstance(exc, SafetensorError):
        return f"cannot read or write a safetensors file: {exc}"
    verb, cause = _FAULTS.get(exc.errno, ("use", (exc.strerror or str(exc)).lower()))
    if exc.filename is None:  # not a file's fault (a refused connection), or a write that named none
        return f"{cause} ({type(exc).__name__})"
    where = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else str(exc.filename)
    return f"cannot {verb} {where}: {cause}"


class _FaultReportingGroup(click.Group):
    """File-system faults (a full disk, a read-only mount, a lock without permission) end as one line on
    stderr and exit status 1 instead of a traceback, whichever step meets them."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (OSError, SafetensorError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # a closed pipe (``lgmcl ... | head``): click's own handling ends quietly
            raise click.ClickException(describe_fault(exc)) from exc


@click.group(cls=_FaultReportingGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="lgmcl")
def cli() -> None:
    """LGM-CL: local-global multimodal contrastive learning for molecular property prediction."""


cli.add_command(datasets)
cli.add_command(featurize)
cli.add_command(augment)
cli.add_command(pretrain)
cli.add_command(finetune)
cli.add_command(evaluate)
cli.add_command(predict)
