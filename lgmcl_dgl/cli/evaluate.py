"""``lgmcl evaluate``: a RUN's metrics recomputed on labelled data or on a part of its own splits."""

from __future__ import annotations

import json

import click

from lgmcl_dgl.cli.options import RUN_SMILES_COLUMN_HELP, encoding_option, run_api, split_columns


@click.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.argument("input_", metavar="[INPUT]", required=False)
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output directory [default: RUN/evaluations/<INPUT name or split>].")
@click.option("--smiles-column", default=None, help=RUN_SMILES_COLUMN_HELP)
@click.option("--target-columns", default=None,
              help="Comma-separated label columns, one per task of RUN in its order (default: the task names).")
@encoding_option
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Without INPUT: score each seed on this part of its own split [default: test].")
@click.option("--device", default="cpu")
def evaluate(run: str, input_: str | None, out_dir: str | None, smiles_column, target_columns, encoding, split,
             device) -> None:
    """Score RUN's models on INPUT (a labelled CSV or dataset name) or on its own split; writes metrics.json."""
    from lgmcl_dgl.evaluate.metrics import SKIPPED_BECAUSE, format_over_seeds, format_skipped
    from lgmcl_dgl.evaluate.run_metrics import EvaluateConfig, evaluate_run

    if input_ is not None and split is not None:
        raise click.UsageError("give INPUT or --split, not both")
    config = EvaluateConfig(smiles_column=smiles_column, target_columns=split_columns(target_columns), split=split,
                            device=device, encoding=encoding)
    out = run_api(evaluate_run, run, input_, out_dir, config)
    metrics = json.loads((out / "metrics.json").read_text())
    name = metrics["metric"]
    summary = metrics.get("data") or metrics[metrics["split"]]
    line = f"{name} {format_over_seeds(summary)} over seed(s) {metrics['seeds']}"
    if "ensemble" in metrics and metrics["ensemble"].get(name) is not None:
        line += f"; seed-ensemble {metrics['ensemble'][name]:.3f}"
    if "ensemble" in metrics:  # one INPUT: every seed left out the same tasks
        skipped = format_skipped({0: metrics["ensemble"]["skipped_tasks"]})
    else:
        skipped = format_skipped({seed: scores["skipped_tasks"] for seed, scores in zip(metrics["seeds"],
                                                                                       metrics["per_seed"])})
    if skipped:
        click.echo(f"not in the {name}, {SKIPPED_BECAUSE[metrics['task_type']]}: {skipped}")
    click.echo(f"{line}\n{out / 'metrics.json'}")
