"""``lgmcl`` click group; subcommands live one per module beside this file."""

from __future__ import annotations

import click

from lgmcl_dgl import __version__
from lgmcl_dgl.cli.datasets import datasets
from lgmcl_dgl.cli.featurize import featurize
from lgmcl_dgl.cli.augment import augment
from lgmcl_dgl.cli.pretrain import pretrain
from lgmcl_dgl.cli.finetune import finetune
from lgmcl_dgl.cli.evaluate import evaluate
from lgmcl_dgl.cli.predict import predict


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
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
