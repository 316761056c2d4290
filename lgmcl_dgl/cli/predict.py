"""``lgmcl predict``: a fine-tuned RUN applied to new molecules, one output row per input row."""

from __future__ import annotations

import click

from lgmcl_dgl.cli.options import RUN_SMILES_COLUMN_HELP, atom_budget_option, encoding_option, run_api


@click.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.argument("input_", metavar="INPUT")
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False), default="predictions.csv",
              help="Output CSV: row, smiles, INPUT's other columns, one column per task (+ _std with several "
                   "seeds), error.")
@click.option("--smiles-column", default=None, help=RUN_SMILES_COLUMN_HELP)
@encoding_option
@click.option("--descriptions", type=click.Path(file_okay=False, exists=True), default=None,
              help="An augment directory of INPUT (else molecules are described on the fly).")
@click.option("--batch-size", type=click.IntRange(min=1), default=256)
@atom_budget_option
@click.option("--chunk-size", type=click.IntRange(min=1), default=1024, help="Rows per chunk: a few chunks are in memory at a time.")
@click.option("--device", default="cpu")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=None,
              help="Processes featurizing and describing the next chunks while the model scores one; 0 = none "
                   "[default: all cores].")
@click.option("--precision", type=click.Choice(["float32", "bfloat16"]), default="float32",
              help="bfloat16 runs the text encoder in bf16: faster on CPUs with AVX512-BF16 or AMX and on GPUs, "
                   "predictions differ slightly (docs/finetune.md).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads of the scoring process [default: 1 beside worker processes, else torch's].")
def predict(run: str, input_: str, out_file: str, smiles_column: str | None, encoding: str, descriptions: str | None,
            batch_size: int, atom_budget: int, chunk_size: int, device: str, jobs: int | None, precision: str,
            threads: int | None) -> None:
    """Predict every row of INPUT (CSV, SMILES file, dataset name or featurize directory) with RUN's models.

    Classification columns hold probabilities, regression ones values in the original units;
    with several seeds the value is the seeds' mean and <task>_std their spread. Rows that
    cannot be used stay in place with the reason in the error column.
    """
    import pandas as pd

    from lgmcl_dgl.evaluate.predict import PredictConfig
    from lgmcl_dgl.evaluate.predict import predict as run_predict

    config = PredictConfig(batch_size=batch_size, atom_budget=atom_budget, chunk_size=chunk_size, device=device,
                           smiles_column=smiles_column, encoding=encoding, jobs=jobs, precision=precision, threads=threads)
    out = run_api(run_predict, run, input_, out_file, config, descriptions)
    errors = pd.read_csv(out, usecols=["error"], keep_default_na=False)["error"]
    click.echo(f"{out}: {len(errors)} rows, {int((errors != '').sum())} could not be predicted (see the error column)")
