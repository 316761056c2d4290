"""How fast is each step, in one report: featurize, pretrain, finetune (beside chemprop v2) and predict.

Each part calls the benchmark script that owns it, so the figures are the same ones those
scripts print: featurize.py's naive-loop comparison, pretrain.py's step timing per preset and
predict.py's throughput. The finetune part trains the small preset on BBBP (random 0.8/0.1/0.1
split, seed 0) through ``lgmcl_dgl.finetune`` and reads each epoch's training time from the
run's curves.csv; with --chemprop-python, chemprop v2 trains on the same split for the same
number of epochs, its epochs timed the same way (training batches only) by a Lightning callback.
The report records the machine (CPU model, cores, memory, GPU, library versions) and its load
before and after: on a shared machine wall times are pessimistic.

    PYTHONPATH=. python benchmarks/speed.py --quick --chemprop-python /path/to/chemprop-venv/bin/python
    PYTHONPATH=. python benchmarks/speed.py                       # full sizes
    PYTHONPATH=. python benchmarks/speed.py --parts finetune --epochs 10 --out /tmp/speed.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import RESULTS, load_script, machine_description

PARTS = ("featurize", "pretrain", "finetune", "predict")


@dataclasses.dataclass(frozen=True)
class Sizes:
    featurize_n: int  # MOSES molecules through the naive loop and `featurize`
    jobs: int  # featurize workers
    pretrain_presets: tuple[str, ...]
    pretrain_batch_size: int
    pretrain_steps: int  # timed repeats of each pretraining measurement
    finetune_dataset: str  # registry name or CSV path
    epochs: int  # finetune epochs, for LGM-CL and chemprop alike
    predict_n: int  # MOSES molecules to predict
    threads: int  # torch threads while predicting
    finetune_overrides: dict = dataclasses.field(default_factory=dict)  # model config keys (tests: a tinier model)


FULL = Sizes(featurize_n=4000, jobs=2, pretrain_presets=("small", "paper"), pretrain_batch_size=32, pretrain_steps=3,
             finetune_dataset="bbbp", epochs=10, predict_n=2000, threads=2)
QUICK = Sizes(featurize_n=400, jobs=2, pretrain_presets=("small",), pretrain_batch_size=16, pretrain_steps=1,
              finetune_dataset="bbbp", epochs=3, predict_n=300, threads=2)

# Runs `chemprop train` in chemprop's own Python with one Lightning callback added to its Trainer:
# each epoch's time from its start to the end of its last training batch (validation and
# checkpoints excluded, as in the lgmcl loop's epoch_seconds), the whole fit, and chemprop's version.
CHEMPROP_TIMED = """
import json, sys, time
import chemprop
from lightning import pytorch as pl
from chemprop.cli.main import main


class EpochTimer(pl.Callback):
    def __init__(self):
        self.epochs, self.fit_seconds = [], None

    def on_fit_start(self, trainer, module):
        self.fit_started = time.perf_counter()

    def on_train_epoch_start(self, trainer, module):
        self.epoch_started = self.last_batch_end = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.last_batch_end = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        self.epochs.append(self.last_batch_end - self.epoch_started)

    def on_fit_end(self, trainer, module):
        self.fit_seconds = time.perf_counter() - self.fit_started


timer = EpochTimer()


class Trainer(pl.Trainer):
    def __init__(self, *args, callbacks=None, **kwargs):
        super().__init__(*args, callbacks=[*(callbacks or []), timer], **kwargs)


pl.Trainer = Trainer
out = sys.argv.pop(1)
sys.argv[0] = "chemprop"
try:
    main()
finally:
    with open(out, "w") as handle:
        json.dump({"epoch_seconds": timer.epochs, "fit_seconds": timer.fit_seconds,
                   "version": chemprop.__version__}, handle)
"""


def featurize_part(sizes: Sizes) -> dict:
    return load_script("featurize").compare(sizes.featurize_n, sizes.jobs)


def pretrain_part(sizes: Sizes) -> list[dict]:
    return load_script("pretrain").run_presets(list(sizes.pretrain_presets), sizes.pretrain_batch_size,
                                               sizes.pretrain_steps, "cpu", None)


def predict_part(sizes: Sizes) -> dict:
    return load_script("predict").measure(sizes.predict_n, sizes.threads, train_rows=120)


def finetune_part(sizes: Sizes, work_dir: Path, chemprop_python: str | None = None, seed: int = 0) -> dict:
    """Seconds per epoch of LGM-CL (small preset) and, given its Python, chemprop v2 on one split."""
    import pandas as pd

    from lgmcl_dgl.data.splits import make_split
    from lgmcl_dgl.evaluate.run_dir import seed_dir
    from lgmcl_dgl.finetune import FinetuneConfig, finetune

    moleculenet = load_script("moleculenet")
    table = moleculenet.load_dataset(sizes.finetune_dataset)
    task_type = moleculenet.task_type_of(table)
    split = make_split(table, "random", (0.8, 0.1, 0.1), seed)
    split_file = split.save(work_dir / "split.json", table)
    config = FinetuneConfig(preset="small", overrides=dict(sizes.finetune_overrides), task_type=task_type,
                            smiles_column=table.spec.smiles_column if table.spec else None,
                            target_columns=table.task_names, split_file=str(split_file), seeds=[seed],
                            epochs=sizes.epochs, patience=None, progress=False, overwrite=True)
    started = time.perf_counter()
    run = finetune(table.source, work_dir / "lgmcl", config)  # featurise + describe (cold cache) + train + test
    seconds = time.perf_counter() - started
    epochs = pd.read_csv(seed_dir(run, seed) / "curves.csv")["epoch_seconds"].tolist()
    train_seconds = json.loads((seed_dir(run, seed) / "metrics.json").read_text())["train_seconds"]
    result = {"dataset": Path(sizes.finetune_dataset).stem, "task_type": task_type,
              "split": {"kind": "random", "sizes": [0.8, 0.1, 0.1], "seed": seed,
                        **{part: len(positions) for part, positions in split.parts().items()}},
              "epochs": sizes.epochs,
              "lgmcl": _per_epoch(epochs, train_seconds, seconds, "lgmcl finetune, preset small"),
              "chemprop": None}
    if chemprop_python:
        result["chemprop"] = chemprop_epochs(moleculenet, table, split, task_type, sizes.epochs, seed,
                                             chemprop_python, work_dir / "chemprop")
    return result


def chemprop_epochs(moleculenet, table, split, task_type: str, epochs: int, seed: int, python: str,
                    work_dir: Path) -> dict:
    """`chemprop train` as moleculenet.py runs it, timed per epoch by ``CHEMPROP_TIMED``."""
    columns = moleculenet.chemprop_inputs(table, split, work_dir)
    times = work_dir / "epoch_times.json"
    command = [python, "-c", CHEMPROP_TIMED, str(times),
               *moleculenet.chemprop_train_args(work_dir, columns, task_type, epochs, seed)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"chemprop train failed ({done.returncode}): {done.stderr[-2000:]}")
    timed = json.loads(times.read_text())
    return _per_epoch(timed["epoch_seconds"], timed["fit_seconds"], seconds, f"chemprop {timed['version']} train")


def _per_epoch(epoch_seconds: list[float], loop_seconds: float, command_seconds: float, what: str) -> dict:
    """Median epoch (robust to the first epoch's warm-up), the training loop's seconds per epoch with
    validation and checkpoints, and the whole command's (start-up, featurisation and test included)."""
    n = len(epoch_seconds)
    return {"what": what, "epochs_run": n, "epoch_seconds": [round(s, 3) for s in epoch_seconds],
            "seconds_per_epoch": round(statistics.median(epoch_seconds), 3),
            "loop_seconds_per_epoch": round(loop_seconds / n, 3),
            "command_seconds": round(command_seconds, 2)}


def run(parts: list[str], sizes: Sizes, chemprop_python: str | None, work_dir: Path) -> dict:
    """Every requested part, in PARTS order, with the machine before and its load after."""
    report = {"sizes": dataclasses.asdict(sizes), "machine": machine_description(), "part_seconds": {}}
    for part in (p for p in PARTS if p in parts):
        print(f"speed: {part} ...", flush=True)
        started = time.perf_counter()
        if part == "finetune":
            (work_dir / part).mkdir(parents=True, exist_ok=True)
            report[part] = finetune_part(sizes, work_dir / part, chemprop_python)
        else:
            report[part] = {"featurize": featurize_part, "pretrain": pretrain_part,
                            "predict": predict_part}[part](sizes)
        report["part_seconds"][part] = round(time.perf_counter() - started, 1)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def write_report(report: dict, path: Path) -> Path:
    """``path`` (JSON) and the Markdown summary beside it (same name, .md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(report))
    return path


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Speed summary", "",
             f"{m['date']}: {m['cpu_model']}, {m['cores_usable']} usable cores of {m['cores_total']}, "
             f"{m['memory_gib']} GiB, GPU: {m['gpu'] or 'none'}; torch {m['torch']} ({m['torch_threads']} threads), "
             f"dgl {m['dgl']}, rdkit {m['rdkit']}, lgmcl_dgl {m['lgmcl_dgl']}, Python {m['python']}. "
             f"Load average before {m['load_average']}, after {report['load_average_after']}.", "",
             "| step | figure | detail |", "| --- | --- | --- |"]
    if "featurize" in report:
        f = report["featurize"]
        lines.append(f"| featurize | {f['ours_mol_per_s']} molecules/s ({f['jobs']} jobs), {f['ours_cpu_ms_per_mol']} "
                     f"CPU-ms/molecule | {f['n']} MOSES molecules; naive loop {f['naive_mol_per_s']} molecules/s, "
                     f"{f['naive_cpu_ms_per_mol']} CPU-ms/molecule; identical output: {f['identical']['all']} |")
    for row in report.get("pretrain", []):
        lines.append(f"| pretrain, {row['preset']} | {row['molecules_per_second']:.1f} molecules/s | step "
                     f"{row['step_seconds']:.2f} s on batches of {row['batch_size']}, "
                     f"peak {row['peak_memory_mb']:.0f} MB, {row['parameters'] / 1e6:.1f}M parameters |")
    if "finetune" in report:
        f = report["finetune"]
        chemprop = f["chemprop"]
        versus = f"; chemprop {chemprop['seconds_per_epoch']:.1f} s" if chemprop else "; chemprop not run"
        lines.append(f"| finetune, {f['dataset']} | {f['lgmcl']['seconds_per_epoch']:.1f} s/epoch{versus} | "
                     f"{f['split']['train']} training molecules, median of {f['epochs']} epochs |")
    if "predict" in report:
        p = report["predict"]
        lines.append(f"| predict, {p['preset']} | {p['end_to_end']['mol_per_s']:.0f} molecules/s end to end | "
                     f"{p['molecules']} molecules, {p['torch_threads']} torch threads; first call "
                     f"{p['end_to_end_first_call']['mol_per_s']:.0f} molecules/s |")
    if "finetune" in report:
        f = report["finetune"]
        lines += ["", f"Finetune on {f['dataset']} ({f['split']['kind']} split {f['split']['sizes']}, seed "
                  f"{f['split']['seed']}: {f['split']['train']} train / {f['split']['val']} validation molecules), "
                  f"{f['epochs']} epochs each. Epoch: its training batches only; loop: training with validation "
                  "and checkpoints, per epoch; command: the whole call (start-up, featurisation, descriptions, "
                  "testing) once.", "",
                  "| model | s/epoch (median) | each epoch, s | loop s/epoch | command s |",
                  "| --- | ---: | --- | ---: | ---: |"]
        for name in ("lgmcl", "chemprop"):
            r = f[name]
            if r:
                lines.append(f"| {r['what']} | {r['seconds_per_epoch']:.1f} | "
                             f"{', '.join(f'{s:.1f}' for s in r['epoch_seconds'])} | "
                             f"{r['loop_seconds_per_epoch']:.1f} | {r['command_seconds']:.1f} |")
    lines += ["", "Seconds per part: " + ", ".join(f"{k} {v}" for k, v in report["part_seconds"].items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a few minutes on a quiet 2-core machine")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, any of {', '.join(PARTS)}")
    parser.add_argument("--epochs", type=int, default=None, help="finetune epochs (default: 10, --quick 3)")
    parser.add_argument("--chemprop-python", default=None, help="Python of an environment with chemprop v2")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json", help="JSON report; the .md goes beside it")
    args = parser.parse_args()
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    sizes = QUICK if args.quick else FULL
    if args.epochs:
        sizes = dataclasses.replace(sizes, epochs=args.epochs)
    if args.chemprop_python and "finetune" in parts and sizes.epochs < 3:
        parser.error("chemprop trains at least 3 epochs (more than its 2 warm-up epochs): raise --epochs")
    with tempfile.TemporaryDirectory(prefix="lgmcl-speed-") as tmp:
        os.environ["LGMCL_CACHE"] = str(Path(tmp) / "cache")  # cold, private cache: featurisation is part of the cost
        report = run(parts, sizes, args.chemprop_python, Path(tmp))
    write_report(report, args.out)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
