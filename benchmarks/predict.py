"""How many molecules per second does `lgmcl predict` score with the small preset, and where does the time go?

Trains a real small-preset RUN for one epoch on a BBBP slice (the weights do not change the
cost; or pass --run), then predicts N MOSES molecules (plus a few invalid rows) end to end with
`predict`: once to pay one-time costs, then as before the fused attention (transformers' DeBERTa
forward, 2 torch threads beside the workers), all in this process (--jobs 0), with worker processes
preparing chunks beside the model (the default), and with those workers and the text encoder in
bfloat16 (--precision bfloat16, whose largest difference from float32 is recorded). It also times
the parts separately on the same molecules: featurisation, descriptions, model forward.
Wall time depends on the machine's load, so CPU seconds are recorded beside it: those of the whole
process tree, the worker processes included.

    PYTHONPATH=. python benchmarks/predict.py --n 4000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from _common import RESULTS, cpu_seconds, machine, moses_smiles, output_dir
from lgmcl_dgl.data.locations import shared_data_dir

BEFORE = "before: transformers' attention, 2 torch threads beside the workers"
VARIANTS = {BEFORE: {"threads": 2},
            "end to end, in one process (--jobs 0)": {"jobs": 0},
            "end to end, workers prepare chunks (default)": {},
            "end to end, workers + text encoder in bfloat16": {"precision": "bfloat16"}}
DEFAULT = "end to end, workers prepare chunks (default)"


@contextmanager
def transformers_attention():
    """Models loaded inside run transformers' DeBERTa forward, not models/deberta_inference.py (the baseline)."""
    from lgmcl_dgl.models import deberta_inference

    supports = deberta_inference.supports
    deberta_inference.supports = lambda backbone: False
    try:
        yield
    finally:
        deberta_inference.supports = supports


def timed(call):
    wall, cpu = time.perf_counter(), cpu_seconds()
    value = call()
    return value, time.perf_counter() - wall, cpu_seconds() - cpu


def measure(n: int, threads: int, train_rows: int, run: Path | None = None) -> dict:
    """The benchmark itself, on ``threads`` torch threads (the process's setting is restored afterwards)."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(n, threads, train_rows, run)
    finally:
        torch.set_num_threads(previous_threads)


def _measure(n: int, threads: int, train_rows: int, run: Path | None) -> dict:
    from lgmcl_dgl.evaluate.predict import Ensemble, PredictConfig, predict
    from lgmcl_dgl.featurize.pipeline import featurize_smiles
    from lgmcl_dgl.finetune import FinetuneConfig, finetune

    label = str(run) if run is not None else "1-epoch BBBP slice"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("LGMCL_CACHE", str(tmp / "cache"))
        if run is None:
            lines = (shared_data_dir() / "moleculenet" / "BBBP.csv").read_text().splitlines()
            (tmp / "train.csv").write_text("\n".join(lines[:train_rows + 1]) + "\n")
            run = finetune(tmp / "train.csv", tmp / "run", FinetuneConfig(
                epochs=1, target_columns=["p_np"], progress=False, jobs=1, device="cpu"))
        smiles = moses_smiles(n) + ["not_a_smiles", "C1CC", ""]
        source = tmp / "new.csv"
        source.write_text("smiles\n" + "\n".join(smiles) + "\n")

        _, cold_wall, cold_cpu = timed(lambda: predict(run, source, tmp / "cold.csv", PredictConfig(jobs=0)))
        timings, outputs = {}, {}
        for name, settings in VARIANTS.items():
            out = tmp / f"{len(outputs)}.csv"
            with transformers_attention() if name == BEFORE else nullcontext():
                _, wall, cpu = timed(lambda: predict(run, source, out, PredictConfig(**settings)))
            timings[name] = {"seconds": wall, "cpu_seconds": cpu, "mol_per_s": len(smiles) / wall}
            outputs[name] = pd.read_csv(out).iloc[:, 2:-1].to_numpy(dtype=float)
        before, alone, workers, bf16 = outputs.values()
        ensemble = Ensemble(run)
        records, f_wall, f_cpu = timed(lambda: [r for r in featurize_smiles(smiles, ensemble.featurize_config())
                                                if hasattr(r, "fingerprints")])
        texts, d_wall, d_cpu = timed(lambda: ensemble.describe([r.smiles for r in records]))
        _, m_wall, m_cpu = timed(lambda: ensemble.predict_records(records, texts))
        with transformers_attention():
            before_model = Ensemble(run)
        _, b_wall, b_cpu = timed(lambda: before_model.predict_records(records, texts))
    n = len(smiles)
    return {"molecules": n, "torch_threads": threads, "preset": "small",
            "run": label,
            "end_to_end_first_call": {"seconds": cold_wall, "cpu_seconds": cold_cpu, "mol_per_s": n / cold_wall},
            "end_to_end": timings[DEFAULT], "variants": timings,
            "workers_output_identical": bool(np.array_equal(alone, workers, equal_nan=True)),
            "speedup_over_before": timings[BEFORE]["seconds"] / timings[DEFAULT]["seconds"],
            "fused_attention_max_abs_difference": float(np.nanmax(np.abs(workers - before))),
            "bfloat16_max_abs_difference": float(np.nanmax(np.abs(bf16 - alone))),
            "parts": {"featurize": {"seconds": f_wall, "cpu_seconds": f_cpu, "mol_per_s": n / f_wall},
                      "describe (rdkit)": {"seconds": d_wall, "cpu_seconds": d_cpu, "mol_per_s": n / d_wall},
                      "model forward": {"seconds": m_wall, "cpu_seconds": m_cpu, "mol_per_s": n / m_wall},
                      "model forward, transformers' attention (before)": {"seconds": b_wall, "cpu_seconds": b_cpu,
                                                                          "mol_per_s": n / b_wall}},
            "machine": machine(torch=torch.__version__)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="molecules to predict")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target machine has 2 cores)")
    parser.add_argument("--train-rows", type=int, default=120, help="BBBP rows the benchmark RUN is trained on")
    parser.add_argument("--run", type=Path, default=None, help="an existing fine-tuned RUN instead of the 1-epoch one")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON and Markdown results")
    args = parser.parse_args()
    result = measure(args.n, args.threads, args.train_rows, args.run)
    out = output_dir(args.out)
    (out / "predict.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [("end to end, first call (imports, model load, RDKit pattern compilation)", result["end_to_end_first_call"]),
            *result["variants"].items(), *result["parts"].items()]
    table = ["| part | seconds | CPU seconds | molecules/s |", "| --- | ---: | ---: | ---: |"]
    table += [f"| {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['mol_per_s']:.0f} |" for name, r in rows]
    (out / "predict.md").write_text(
        f"`lgmcl predict`, small preset, {result['molecules']} molecules, {args.threads} torch threads, load average "
        f"{result['machine']['load_average']}; workers give the same output as one process: "
        f"{result['workers_output_identical']}; default against before: {result['speedup_over_before']:.2f}x faster, "
        f"largest difference {result['fused_attention_max_abs_difference']:.2g}; bfloat16 text encoder, largest "
        f"difference from float32: {result['bfloat16_max_abs_difference']:.2g}\n\n" + "\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
