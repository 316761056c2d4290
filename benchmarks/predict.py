"""How many molecules per second does `lgmcl predict` score with the small preset, and where does the time go?

Trains a real small-preset RUN for one epoch on a BBBP slice (the weights do not change the
cost; or pass --run), then predicts N MOSES molecules (plus a few invalid rows) end to end with
`predict`: once to pay one-time costs, then all in this process (--jobs 0), with worker processes
preparing chunks beside the model (the default), and with those workers and the text encoder in
bfloat16 (--precision bfloat16, whose largest difference from float32 is recorded). It also times
the parts separately on the same molecules: featurisation, descriptions, model forward.
Wall time depends on the machine's load, so process CPU seconds are recorded beside it.

    PYTHONPATH=. python benchmarks/predict.py --n 4000 --threads 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lgmcl_dgl.data.locations import shared_data_dir

RESULTS = Path(__file__).parent / "results"


def moses_smiles(n: int) -> list[str]:
    with gzip.open(shared_data_dir() / "pretrain" / "moses_test.csv.gz", "rt") as handle:
        next(handle)
        return [line.strip().split(",")[0] for _, line in zip(range(n), handle)]


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="molecules to predict")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target machine has 2 cores)")
    parser.add_argument("--train-rows", type=int, default=120, help="BBBP rows the benchmark RUN is trained on")
    parser.add_argument("--run", type=Path, default=None, help="an existing fine-tuned RUN instead of the 1-epoch one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from lgmcl_dgl.evaluate.predict import Ensemble, PredictConfig, predict
    from lgmcl_dgl.featurize.pipeline import featurize_smiles
    from lgmcl_dgl.finetune import FinetuneConfig, finetune

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("LGMCL_CACHE", str(tmp / "cache"))
        lines = (shared_data_dir() / "moleculenet" / "BBBP.csv").read_text().splitlines()
        (tmp / "train.csv").write_text("\n".join(lines[:args.train_rows + 1]) + "\n")
        run = args.run or finetune(tmp / "train.csv", tmp / "run", FinetuneConfig(
            epochs=1, target_columns=["p_np"], progress=False, jobs=1, device="cpu"))
        smiles = moses_smiles(args.n) + ["not_a_smiles", "C1CC", ""]
        source = tmp / "new.csv"
        source.write_text("smiles\n" + "\n".join(smiles) + "\n")

        _, cold_wall, cold_cpu = timed(lambda: predict(run, source, tmp / "cold.csv", PredictConfig(jobs=0)))
        variants = {"end to end, in one process (--jobs 0)": PredictConfig(jobs=0),
                    "end to end, workers prepare chunks (default)": PredictConfig(),
                    "end to end, workers + text encoder in bfloat16": PredictConfig(precision="bfloat16")}
        timings, outputs = {}, {}
        for name, config in variants.items():
            out = tmp / f"{len(outputs)}.csv"
            _, wall, cpu = timed(lambda: predict(run, source, out, config))
            timings[name] = {"seconds": wall, "cpu_seconds": cpu, "mol_per_s": len(smiles) / wall}
            outputs[name] = pd.read_csv(out).iloc[:, 2:-1].to_numpy(dtype=float)
        reference, *_, bf16 = outputs.values()
        bf16_difference = float(np.nanmax(np.abs(bf16 - reference)))
        workers_identical = bool(np.array_equal(*list(outputs.values())[:2], equal_nan=True))
        ensemble = Ensemble(run)
        records, f_wall, f_cpu = timed(lambda: [r for r in featurize_smiles(smiles, ensemble.featurize_config())
                                                if hasattr(r, "fingerprints")])
        texts, d_wall, d_cpu = timed(lambda: ensemble.describe([r.smiles for r in records]))
        _, m_wall, m_cpu = timed(lambda: ensemble.predict_records(records, texts))
    n = len(smiles)
    result = {"molecules": n, "torch_threads": args.threads, "preset": "small",
              "end_to_end_first_call": {"seconds": cold_wall, "cpu_seconds": cold_cpu, "mol_per_s": n / cold_wall},
              "end_to_end": timings, "workers_output_identical": workers_identical,
              "bfloat16_max_abs_difference": bf16_difference, "run": str(args.run) if args.run else "1-epoch BBBP slice",
              "parts": {"featurize": {"seconds": f_wall, "cpu_seconds": f_cpu, "mol_per_s": n / f_wall},
                        "describe (rdkit)": {"seconds": d_wall, "cpu_seconds": d_cpu, "mol_per_s": n / d_wall},
                        "model forward": {"seconds": m_wall, "cpu_seconds": m_cpu, "mol_per_s": n / m_wall}},
              "machine": {"cpus": len(os.sched_getaffinity(0)), "load_average": [round(x, 2) for x in os.getloadavg()],
                          "python": sys.version.split()[0], "torch": torch.__version__}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [("end to end, first call (imports, model load, RDKit pattern compilation)", result["end_to_end_first_call"]),
            *timings.items(), *result["parts"].items()]
    table = ["| part | seconds | CPU seconds | molecules/s |", "| --- | ---: | ---: | ---: |"]
    table += [f"| {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['mol_per_s']:.0f} |" for name, r in rows]
    (RESULTS / "predict.md").write_text(
        f"`lgmcl predict`, small preset, {n} molecules, {args.threads} torch threads, load average "
        f"{result['machine']['load_average']}; workers give the same output as one process: {workers_identical}; "
        f"bfloat16 text encoder, largest difference from float32: {bf16_difference:.2g}\n\n" + "\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
