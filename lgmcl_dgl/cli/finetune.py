"""``lgmcl finetune``: property models per seed on a dataset, from scratch or from pretrained encoders."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from click.core import ParameterSource

from lgmcl_dgl.cli.options import atom_budget_option, input_options, parse_pairs, run_api, split_columns

DEFAULT_INPUT = "bbbp"
DEFAULT_RUNS = Path("lgmcl-runs")
QUICK_START_EPOCHS = 5  # the bare `lgmcl finetune` must finish in minutes on a laptop
DEFAULT_EPOCHS = 30
METRIC_NAMES = {"roc_auc": "ROC-AUC", "rmse": "RMSE"}


class ManyValues(click.Option):
    """An option taking every value up to the next option: ``--seeds 0 1 2`` (click options take a fixed count)."""

    def add_to_parser(self, parser, ctx):
        result = super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            original = option.process

            def process(value, state, original=original, prefixes=option.prefixes):
                values = [value]
                while state.rargs and not any(state.rargs[0].startswith(p) for p in prefixes):
                    values.append(state.rargs.pop(0))
                original(" ".join(values), state)

            option.process = process
        return result


def _words(value: str | None) -> list[str] | None:
    return [w for w in value.replace(",", " ").split() if w] if value else None


def _seeds(ctx, param, value: str) -> list[int]:
    try:
        return [int(w) for w in _words(value) or []]
    except ValueError:
        raise click.BadParameter(f"seeds are integers, got {value!r}") from None


RECIPE_CHOICES = ("default", "pretrained")  # finetune.RECIPES, named here to keep `lgmcl --help` free of torch


@click.command()
@click.argument("input_", metavar="[INPUT]", required=False, default=None)
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: lgmcl-runs/<INPUT name>].")
@input_options
@click.option("--run-config", "run_config", type=click.Path(dir_okay=False, exists=True), default=None,
              help="YAML of a whole run's settings (FinetuneConfig keys, e.g. lr: 0.0003; a RUN's finetune_config.json "
                   "is one). Options given on the command line override it; --set keys are merged into its overrides.")
@click.option("--recipe", type=click.Choice(RECIPE_CHOICES), default=None,
              help="Named training settings to start from: pretrained = encoders at 0.1 x lr, 1 warm-up epoch, cosine "
                   "decay, encoders frozen for the first epoch (not yet measured: docs/finetune.md). --run-config and "
                   "explicit options override it [default: default = one constant lr, no warm-up, no freezing].")
@click.option("--pretrained", default=None, help="A shipped pretrained model (e.g. zinc-small) or a pretrain output "
                                                 "directory [default: train from scratch].")
@click.option("--preset", default="small", help="Model preset (small, paper) when not starting from --pretrained.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Model config YAML (replaces --preset).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one model config key, dotted allowed (e.g. text.max_length=128). Repeatable.")
@click.option("--split", type=click.Choice(["random", "scaffold", "scaffold_balanced"]), default="random")
@click.option("--split-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help='JSON {"train": rows, "val": rows, "test": rows} of 0-based data rows (replaces --split).')
@click.option("--split-sizes", type=float, nargs=3, default=(0.8, 0.1, 0.1),
              help="Train, validation and test fractions (the paper uses 0.6 0.2 0.2).")
@click.option("--duplicates", type=click.Choice(["keep", "merge"]), default="keep", show_default=True,
              help="Copies of a molecule (same canonical SMILES, listed in RUN/duplicates.csv): keep each, all in one "
                   "split part, or merge them into one (label: mean, or the majority class with ties positive).")
@click.option("--seeds", cls=ManyValues, default="0", callback=_seeds, help="One model per seed, e.g. --seeds 0 1 2.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help=f"Most epochs per seed [default: {DEFAULT_EPOCHS}; {QUICK_START_EPOCHS} for the quick start].")
@click.option("--patience", type=click.IntRange(min=1), default=10,
              help="Stop after this many epochs without a better validation metric.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64)
@atom_budget_option
@click.option("--lr", type=float, default=1e-3, help="Learning rate of the fusion and task head.")
@click.option("--encoder-lr-factor", type=click.FloatRange(min=0), default=1.0,
              help="The encoders' learning rate as a multiple of --lr.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=1e-3)
@click.option("--schedule", type=click.Choice(["constant", "cosine", "linear"]), default="constant",
              help="After the warm-up: constant rates, or cosine / linear decay to 0 at the last epoch.")
@click.option("--warmup-epochs", type=click.FloatRange(min=0), default=0.0,
              help="Linear warm-up of the rates over this many epochs.")
@click.option("--freeze-epochs", type=click.IntRange(min=0), default=0,
              help="Encoders frozen for the first K epochs, then trained at --lr x --encoder-lr-factor.")
@click.option("--freeze-encoders", is_flag=True, help="Train only the fusion and task head (encoders as pretrained).")
@click.option("--task-type", type=click.Choice(["classification", "regression"]), default=None,
              help="Default: the dataset's, else inferred from the labels (all 0/1 = classification).")
@click.option("--modalities", cls=ManyValues, default=None,
              help="Branches to use, e.g. --modalities local global fingerprints [default: all the preset's].")
@click.option("--atom-featurizer", type=click.Choice(["attentivefp", "paper"]), default=None,
              help="Atom features [default: the pretrained model's, else attentivefp].")
@click.option("--description-backend", default="rdkit", help="Backend describing molecules for the text branch.")
@click.option("--description-option", "description_options", multiple=True, metavar="KEY=VALUE",
              help="One setting of the description backend (as lgmcl augment's, e.g. model=NAME). Repeatable.")
@click.option("--descriptions", type=click.Path(file_okay=False, exists=True), default=None,
              help="An augment directory of INPUT to take descriptions from.")
@click.option("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1 ...")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Processes for featurizing and describing.")
@click.option("--resume", is_flag=True, help="Continue a killed run in OUT: finished seeds are kept, the unfinished one "
                                             "continues from its last epoch.")
@click.option("--overwrite", is_flag=True, help="Replace what OUT holds.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def finetune(ctx: click.Context, input_: str, out_dir: str | None, run_config: str | None, recipe: str | None,
             config_file: str | None, overrides: tuple[str, ...], description_options: tuple[str, ...], quiet: bool,
             **options) -> None:
    """Fine-tune on INPUT (a dataset name, a CSV or a featurize directory).

    Writes per seed the model, predictions on each split, training curves and plots, and
    metrics.json over the seeds; prints the test metric as mean +- std over seeds, and the
    seed ensemble's (the mean prediction) when the seeds share their test molecules.

    Without INPUT, a quick start: the BBBP set shipped in the package, one seed, a few epochs,
    into lgmcl-runs/bbbp; rerunning it continues or shows that run (--overwrite starts afresh).
    """
    from lgmcl_dgl.finetune import RECIPES, FinetuneConfig, FinetuneInterrupted, read_run_config
    from lgmcl_dgl.finetune import finetune as run_finetune

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cli_values = dict(options, preset=config_file or options["preset"], overrides=parse_pairs(overrides, "set"),
                      description_options=parse_pairs(description_options, "description-option"), progress=not quiet,
                      modalities=_words(options["modalities"]), target_columns=split_columns(options["target_columns"]),
                      split_sizes=tuple(options["split_sizes"]))
    given = {name for name in ctx.params if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    explicit = {key: value for key, value in cli_values.items() if given & set(_PARAMETERS.get(key, (key,)))}
    from_file = run_api(read_run_config, run_config) if run_config else {}
    settings = {**cli_values, **RECIPES[recipe or "default"], **from_file, **explicit}
    for key in ("overrides", "description_options"):  # pairs given add to (or replace keys of) the file's
        settings[key] = {**from_file.get(key, {}), **cli_values[key]}
    quick_start = input_ is None
    if quick_start:
        input_ = DEFAULT_INPUT
        settings["epochs"] = settings["epochs"] or QUICK_START_EPOCHS
        # a rerun shows the finished run again, or finishes a killed one
        settings["resume"] = settings["resume"] or not settings["overwrite"]
    settings["epochs"] = settings["epochs"] or DEFAULT_EPOCHS
    out = Path(out_dir) if out_dir else DEFAULT_RUNS / Path(input_.rstrip("/")).stem.lower()
    config = run_api(FinetuneConfig, **settings)
    try:
        run = run_api(run_finetune, input_, out, config)
    except FinetuneInterrupted as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary_line(run))


#: The options giving a FinetuneConfig key, where their names differ from it.
_PARAMETERS = {"preset": ("preset", "config_file"), "progress": ("quiet",)}


def summary_line(run: Path) -> str:
    """The run, tasks its metrics left out (by part), and last the test metric over the seeds."""
    import json

    from lgmcl_dgl.evaluate.metrics import SKIPPED_BECAUSE, format_over_seeds, format_skipped

    metrics = json.loads((run / "metrics.json").read_text())
    name = METRIC_NAMES.get(metrics["metric"], metrics["metric"])
    test, val = metrics["test"], metrics["val"]
    seeds = ", ".join(str(s) for s in metrics["seeds"])
    line = f"test {name} {format_over_seeds(test)} over seed(s) {seeds}"
    if len(metrics["seeds"]) > 1:
        ensemble = (metrics.get("ensemble") or {}).get("test")
        line += (f", seed ensemble {ensemble[metrics['metric']]:.3f}" if ensemble and ensemble[metrics["metric"]] is not None
                 else ", no seed ensemble (the seeds' test parts differ)")
    if val.get("mean") is not None:
        line += f" (validation {format_over_seeds(val)})"
    lines = [f"run: {run}"]
    for part in ("test", "val", "train"):
        skipped = format_skipped({int(key[len("seed_"):]): parts.get(part, [])
                                  for key, parts in metrics.get("skipped_tasks", {}).items()})
        if skipped:
            lines.append(f"not in the {part} {name}, {SKIPPED_BECAUSE[metrics['task_type']]} in that part: {skipped}")
    return "\n".join(lines + [line])
