"""How fast is each step, in one report: featurize, pretrain, finetune and predict beside chemprop v2, cost by size.

Each part calls the code that owns it. featurize and pretrain are featurize.py's naive-loop
comparison and pretrain.py's step timing. finetune trains the small preset on each dataset
(BBBP and a large-molecule set; random 0.8/0.1/0.1 split, seed 0) three times, one after the other
so that the load of a shared machine falls on all alike: LGM-CL with size-blind batches
(``atom_budget=0``, as before size-aware batching), chemprop v2 (``--chemprop-python``) on the same
split, and LGM-CL with size-aware batches (the default budget). Each runs as a child process whose
whole tree is measured (wall, CPU from wait4, peak RSS sampled every 0.1 s); each epoch's training
batches are timed inside it, wall and CPU (the lgmcl loop's epoch log; a Lightning callback for
chemprop). The padding efficiency (real atoms / padded atom slots over an epoch of training
batches) is computed for BBBP, ClinTox, Tox21 and ToxCast with and without the budget.
predict scores MOSES molecules with the BBBP models of both tools (child processes, both cores),
beside the "input floor": this process computing the LGM-CL model's inputs alone (graphs, three
fingerprints, descriptions, tokens). by_size buckets a large-molecule set by atom count and times
inputs and model forward per molecule in each bucket; giant fine-tunes and predicts a set holding
a 492-atom molecule with and without the budget, for the peak memory. The report records the
machine and its load; on a shared machine compare CPU seconds, not wall.

    PYTHONPATH=. python benchmarks/speed.py --quick --chemprop-python /path/to/chemprop-venv/bin/python
    PYTHONPATH=. python benchmarks/speed.py --chemprop-python ...         # full sizes
    PYTHONPATH=. python benchmarks/speed.py --parts finetune --epochs 10 --out /tmp/speed
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, Measured, load_script, machine_description, moses_smiles, output_dir, run_measured

PARTS = ("featurize", "pretrain", "finetune", "predict", "by_size", "giant")
BUCKETS = (0, 16, 24, 32, 48, 64, 128, 100_000)  # atom-count bucket edges: [lower, upper)
GIANT = "N" + "c1ccc(cc1)C(=O)N" * 54 + "CCCCC"  # 492 heavy atoms: a polyamide chain


@dataclasses.dataclass(frozen=True)
class Sizes:
    featurize_n: int  # MOSES molecules through the naive loop and `featurize`
    jobs: int  # featurize workers
    pretrain_presets: tuple[str, ...]
    pretrain_batch_size: int
    pretrain_steps: int  # timed repeats of each pretraining measurement
    finetune_datasets: tuple[str, ...]  # registry names or CSV paths: BBBP and a large-molecule set
    epochs: int  # finetune epochs, for LGM-CL and chemprop alike
    predict_n: int  # MOSES molecules to predict
    threads: int  # torch / OpenMP threads of every child process
    bucket_n: int  # molecules of the large-molecule set timed by size
    finetune_n: int = 0  # molecules drawn (seeded) from each finetune dataset; 0: all of them
    padding_sets: tuple[str, ...] = ("bbbp", "clintox", "tox21", "toxcast")  # padding efficiency, registry names or CSVs
    finetune_overrides: dict = dataclasses.field(default_factory=dict)  # model config keys (tests: a tinier model)


FULL = Sizes(featurize_n=4000, jobs=2, pretrain_presets=("small", "paper"), pretrain_batch_size=32, pretrain_steps=3,
             finetune_datasets=("bbbp", "toxcast"), epochs=5, predict_n=4000, threads=2, bucket_n=1500)
QUICK = Sizes(featurize_n=400, jobs=2, pretrain_presets=("small",), pretrain_batch_size=16, pretrain_steps=1,
              finetune_datasets=("bbbp", "clintox"), epochs=3, predict_n=1000, threads=2, bucket_n=600)

# Runs `chemprop train` in chemprop's own Python with one Lightning callback added to its Trainer:
# each epoch's wall and CPU time from its start to the end of its last training batch (validation
# and checkpoints excluded, as in the lgmcl loop's epoch log), the whole fit, and chemprop's version.
CHEMPROP_TIMED = """
import json, sys, time
import chemprop
from lightning import pytorch as pl
from chemprop.cli.main import main


class EpochTimer(pl.Callback):
    def __init__(self):
        self.epochs, self.cpu, self.fit_seconds = [], [], None

    def on_fit_start(self, trainer, module):
        self.fit_started = time.perf_counter()

    def on_train_epoch_start(self, trainer, module):
        self.epoch_started = self.last_batch_end = time.perf_counter()
        self.cpu_started = self.last_batch_cpu = time.process_time()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.last_batch_end, self.last_batch_cpu = time.perf_counter(), time.process_time()

    def on_train_epoch_end(self, trainer, module):
        self.epochs.append(self.last_batch_end - self.epoch_started)
        self.cpu.append(self.last_batch_cpu - self.cpu_started)

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
        json.dump({"epoch_seconds": timer.epochs, "epoch_cpu_seconds": timer.cpu, "fit_seconds": timer.fit_seconds,
                   "version": chemprop.__version__}, handle)
"""

# The API calls behind `lgmcl finetune` and `lgmcl predict`, as child processes: configs as JSON arguments.
LGMCL_FINETUNE = ("import json, sys; from lgmcl_dgl.finetune import FinetuneConfig, finetune; "
                  "finetune(sys.argv[1], sys.argv[2], FinetuneConfig(**json.loads(sys.argv[3])))")
LGMCL_PREDICT = ("import json, sys; from lgmcl_dgl.evaluate.predict import PredictConfig, predict; "
                 "predict(sys.argv[1], sys.argv[2], sys.argv[3], PredictConfig(**json.loads(sys.argv[4])))")


def featurize_part(sizes: Sizes) -> dict:
    return load_script("featurize").compare(sizes.featurize_n, sizes.jobs)


def pretrain_part(sizes: Sizes) -> list[dict]:
    return load_script("pretrain").run_presets(list(sizes.pretrain_presets), sizes.pretrain_batch_size,
                                               sizes.pretrain_steps, "cpu", None)


def child_env(sizes: Sizes) -> dict:
    """Every child gets the same threads, and imports this checkout of lgmcl_dgl."""
    repo = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(sizes.threads),
            "MKL_NUM_THREADS": str(sizes.threads)}


def heavy_atoms(smiles: list[str]) -> np.ndarray:
    """Atoms per molecule as the featurizer makes nodes (RDKit heavy atoms)."""
    from rdkit import Chem

    return np.array([Chem.MolFromSmiles(s).GetNumAtoms() for s in smiles], dtype=np.int64)


def padding_part(sizes: Sizes, seed: int = 0) -> dict:
    """Real atoms / padded atom slots over the training batches of ``sizes.epochs`` epochs, per dataset:
    size-blind batches (``atom_budget=0``) against size-aware ones (the default budget)."""
    from lgmcl_dgl.data.splits import make_split
    from lgmcl_dgl.finetune import FinetuneConfig
    from lgmcl_dgl.train.batching import DEFAULT_ATOM_BUDGET, padding_efficiency, plain_batches, sized_batches

    moleculenet = load_script("moleculenet")
    batch_size = FinetuneConfig().batch_size
    rows = {}
    for dataset in sizes.padding_sets:
        table = moleculenet.load_dataset(dataset)
        counts = heavy_atoms(table.smiles)[make_split(table, "random", (0.8, 0.1, 0.1), seed).train]
        epochs = range(sizes.epochs)
        blind = [plain_batches(len(counts), batch_size, seed, e, True, False, 1) for e in epochs]
        aware = [sized_batches(counts, batch_size, DEFAULT_ATOM_BUDGET, seed, e) for e in epochs]
        rows[Path(dataset).stem] = {
            "molecules": len(counts), "atoms_mean": round(float(counts.mean()), 1),
            "atoms_p95": float(np.percentile(counts, 95)), "atoms_max": int(counts.max()),
            "size_blind": round(float(np.mean([padding_efficiency(counts, b) for b in blind])), 3),
            "size_aware": round(float(np.mean([padding_efficiency(counts, b) for b in aware])), 3),
            "batches_size_blind": float(np.mean([len(b) for b in blind])),
            "batches_size_aware": float(np.mean([len(b) for b in aware]))}
    return {"batch_size": batch_size, "atom_budget": DEFAULT_ATOM_BUDGET, "epochs": sizes.epochs, "datasets": rows}


def finetune_part(sizes: Sizes, work_dir: Path, chemprop_python: str | None = None, seed: int = 0) -> tuple[list, dict]:
    """Per dataset: LGM-CL size-blind, chemprop, LGM-CL size-aware, one after the other; returns the
    results and, per dataset, the run directories predict and sizes use."""
    from lgmcl_dgl.data.splits import make_split

    moleculenet = load_script("moleculenet")
    env = child_env(sizes)
    results, runs = [], {}
    for dataset in sizes.finetune_datasets:
        name = Path(dataset).stem
        folder = work_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        table = moleculenet.load_dataset(subset(moleculenet.load_dataset(dataset), sizes.finetune_n, folder, seed)
                                         if sizes.finetune_n else dataset)
        task_type = moleculenet.task_type_of(table)
        split = make_split(table, "random", (0.8, 0.1, 0.1), seed)
        split_file = split.save(folder / "split.json", table)
        config = {"preset": "small", "overrides": dict(sizes.finetune_overrides), "task_type": task_type,
                  "smiles_column": table.spec.smiles_column if table.spec else None,
                  "target_columns": table.task_names, "split_file": str(split_file), "seeds": [seed],
                  "epochs": sizes.epochs, "patience": None, "progress": False, "jobs": sizes.jobs}
        n_train = len(split.train)
        entry = {"dataset": name, "task_type": task_type,
                 "split": {"kind": "random", "sizes": [0.8, 0.1, 0.1], "seed": seed,
                           **{part: len(positions) for part, positions in split.parts().items()}},
                 "epochs": sizes.epochs,
                 "lgmcl_size_blind": lgmcl_finetune(table.source, folder / "lgmcl_size_blind", {**config, "atom_budget": 0},
                                                    n_train, env, "lgmcl finetune, small, atom_budget 0 (size-blind)"),
                 "chemprop": None}
        if chemprop_python:
            entry["chemprop"] = chemprop_epochs(moleculenet, table, split, task_type, sizes.epochs, seed,
                                                chemprop_python, folder / "chemprop", env)
        entry["lgmcl"] = lgmcl_finetune(table.source, folder / "lgmcl", config, n_train, env,
                                        "lgmcl finetune, small, size-aware (default atom budget)")
        runs[name] = {"lgmcl": folder / "lgmcl" / "run", "chemprop": None}
        if chemprop_python:  # the console script of that environment, and the model it trained
            runs[name]["chemprop"] = (str(Path(chemprop_python).parent / "chemprop"),
                                      folder / "chemprop" / "model" / "model_0" / "best.pt")
        results.append(entry)
    return results, runs


def subset(table, n: int, folder: Path, seed: int) -> Path:
    """A CSV of ``n`` molecules drawn from ``table`` (seeded), with its SMILES and task columns."""
    import pandas as pd

    picked = np.sort(np.random.default_rng(seed).permutation(len(table))[:n])
    frame = pd.DataFrame(table.labels[picked], columns=table.task_names)
    frame.insert(0, "smiles", [table.smiles[i] for i in picked])
    path = folder / f"{Path(str(table.source)).name.split('.')[0].lower()}_{len(picked)}.csv"
    frame.to_csv(path, index=False)
    return path


def lgmcl_finetune(source: Path, folder: Path, config: dict, n_train: int, env: dict, what: str) -> dict:
    """The finetune API in a child process with its own cold cache; its epochs from the run's epoch log."""
    import pandas as pd

    from lgmcl_dgl.evaluate.run_dir import seed_dir
    from lgmcl_dgl.train.logging import EPOCH_LOG

    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", LGMCL_FINETUNE, str(source), str(folder / "run"), json.dumps(config)]
    measured = run_measured(command, {**env, "LGMCL_CACHE": str(folder / "cache")}, folder / "log.txt")
    epochs = pd.read_csv(seed_dir(folder / "run", config["seeds"][0]) / "training" / EPOCH_LOG)
    return _per_epoch(epochs["epoch_seconds"].tolist(), epochs["epoch_cpu_seconds"].tolist(), n_train, measured, what)


def chemprop_epochs(moleculenet, table, split, task_type: str, epochs: int, seed: int, python: str,
                    work_dir: Path, env: dict | None = None) -> dict:
    """`chemprop train` as moleculenet.py runs it, timed per epoch by ``CHEMPROP_TIMED``."""
    columns = moleculenet.chemprop_inputs(table, split, work_dir)
    times = work_dir / "epoch_times.json"
    command = [python, "-c", CHEMPROP_TIMED, str(times),
               *moleculenet.chemprop_train_args(work_dir, columns, task_type, epochs, seed)]
    measured = run_measured(command, env, work_dir / "log.txt")
    timed = json.loads(times.read_text())
    return _per_epoch(timed["epoch_seconds"], timed["epoch_cpu_seconds"], len(split.train), measured,
                      f"chemprop {timed['version']} train")


def _per_epoch(epoch_seconds: list[float], epoch_cpu: list[float], molecules: int, command: dict, what: str) -> dict:
    """Median epoch (robust to the first epoch's warm-up), wall and CPU, and the whole command's
    wall, CPU and peak RSS (start-up, featurisation, validation and testing included)."""
    wall, cpu = statistics.median(epoch_seconds), statistics.median(epoch_cpu)
    return {"what": what, "epochs_run": len(epoch_seconds), "epoch_seconds": [round(s, 3) for s in epoch_seconds],
            "epoch_cpu_seconds": [round(s, 3) for s in epoch_cpu], "seconds_per_epoch": round(wall, 3),
            "cpu_seconds_per_epoch": round(cpu, 3), "mol_per_s": round(molecules / wall, 1),
            "mol_per_cpu_s": round(molecules / cpu, 1), "command": command}


def predict_part(sizes: Sizes, work_dir: Path, runs: dict) -> dict:
    """Both tools' BBBP models on MOSES molecules, each a child process on ``sizes.threads`` cores: end
    to end, and per molecule past the fixed cost (the same command on one molecule: imports, model load);
    beside the LGM-CL input floor, computed in this process."""
    first = runs[Path(sizes.finetune_datasets[0]).stem]
    work_dir.mkdir(parents=True, exist_ok=True)
    env = child_env(sizes)
    smiles = moses_smiles(sizes.predict_n)
    inputs = {n: work_dir / f"moses_{n}.csv" for n in (1, len(smiles))}
    for n, path in inputs.items():
        path.write_text("smiles\n" + "\n".join(smiles[:n]) + "\n")
    commands = {"lgmcl": lambda source, out: [sys.executable, "-c", LGMCL_PREDICT, str(first["lgmcl"]), str(source),
                                              str(out), "{}"]}
    if first["chemprop"] is not None:
        cli, model = first["chemprop"]
        commands["chemprop"] = lambda source, out: [cli, "predict", "-i", str(source), "-s", "smiles",
                                                    "--num-workers", "0", "--model-paths", str(model), "-o", str(out)]
    result = {"molecules": len(smiles), "threads": sizes.threads}
    for tool, command in commands.items():  # one molecule, then all of them, per tool in turn
        one = run_measured(command(inputs[1], work_dir / f"{tool}_1.csv"), env, work_dir / f"{tool}_1.log")
        every = run_measured(command(inputs[len(smiles)], work_dir / f"{tool}_n.csv"), env, work_dir / f"{tool}_n.log")
        marginal = (every["cpu_seconds"] - one["cpu_seconds"]) / (len(smiles) - 1)
        result[tool] = {"end_to_end": every, "one_molecule": one,
                        "mol_per_s": round(len(smiles) / every["wall_seconds"], 1),
                        "cpu_ms_per_mol": round(1000 * every["cpu_seconds"] / len(smiles), 3),
                        "marginal_cpu_ms_per_mol": round(1000 * marginal, 3)}
    result["input_floor"] = input_floor(first["lgmcl"], smiles)
    return result
def input_floor(run: Path, smiles: list[str]) -> dict:
    """CPU of computing the LGM-CL model's inputs alone in this process: graphs and the three
    fingerprints, descriptions, token ids (after a warm-up on a few molecules: RDKit compiles its patterns)."""
    from lgmcl_dgl.evaluate.predict import Ensemble

    ensemble = Ensemble(run)
    model_inputs(ensemble, smiles[:20])
    with Measured() as measured:
        model_inputs(ensemble, smiles)
    return measured.record(len(smiles))


def model_inputs(ensemble, smiles: list[str]) -> tuple[list, list[str] | None]:
    """What predict computes before the model: records (graphs + fingerprints), descriptions and their tokens."""
    from lgmcl_dgl.evaluate.inference import tokenize
    from lgmcl_dgl.featurize.pipeline import featurize_smiles

    records = [r for r in featurize_smiles(smiles, ensemble.featurize_config()) if hasattr(r, "fingerprints")]
    texts = None
    if ensemble.uses_text:
        texts = ensemble.describe([r.smiles for r in records])
        tokenize(ensemble.tokenizers[0], [r.smiles for r in records] + texts, ensemble.text["max_length"])
    return records, texts


def by_size_part(sizes: Sizes, runs: dict, seed: int = 0) -> dict:
    """CPU per molecule and per atom by atom-count bucket, on the large-molecule set (its own size-aware
    model) plus the 492-atom molecule: the inputs, and the model's forward with size-aware batches.
    One torch thread, so that CPU time is work, not spinning."""
    import torch

    from lgmcl_dgl.evaluate.predict import Ensemble

    name = Path(sizes.finetune_datasets[-1]).stem
    table = load_script("moleculenet").load_dataset(sizes.finetune_datasets[-1])
    picked = np.random.default_rng(seed).permutation(len(table))[:sizes.bucket_n]
    smiles = [table.smiles[i] for i in picked] + [GIANT] * 2
    atoms = heavy_atoms(smiles)
    ensemble = Ensemble(runs[name]["lgmcl"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model_inputs(ensemble, smiles[:20])  # warm-up
        rows = []
        for low, high in zip(BUCKETS[:-1], BUCKETS[1:]):
            members = [s for s, a in zip(smiles, atoms) if low <= a < high]
            if not members:
                continue
            with Measured() as inputs:
                records, texts = model_inputs(ensemble, members)
            with Measured() as forward:
                ensemble.predict_records(records, texts)
            n_atoms = int(heavy_atoms(members).sum())
            rows.append({"atoms": f"{low}-{high - 1}" if high < BUCKETS[-1] else f"{low}+",
                         "molecules": len(members), "atoms_mean": round(n_atoms / len(members), 1),
                         "inputs_cpu_ms_per_mol": round(1000 * inputs.cpu_seconds / len(members), 2),
                         "model_cpu_ms_per_mol": round(1000 * forward.cpu_seconds / len(members), 2),
                         "model_cpu_ms_per_atom": round(1000 * forward.cpu_seconds / n_atoms, 3),
                         "total_cpu_ms_per_atom": round(1000 * (inputs.cpu_seconds + forward.cpu_seconds) / n_atoms, 3)})
    finally:
        torch.set_num_threads(threads)
    per_atom = [r["total_cpu_ms_per_atom"] for r in rows if r["molecules"] >= 2]
    return {"dataset": name, "buckets": rows,
            "per_atom_spread": round(max(per_atom) / min(per_atom), 2) if per_atom else None}


def giant_part(sizes: Sizes, work_dir: Path, seed: int = 0) -> dict:
    """Peak memory of fine-tuning (one epoch) and predicting a BBBP slice that holds a 492-atom molecule,
    size-blind against size-aware batches, each a child process."""
    import pandas as pd
    from rdkit import Chem, RDLogger

    from lgmcl_dgl.data.locations import shared_data_dir
    from lgmcl_dgl.train.batching import DEFAULT_ATOM_BUDGET

    RDLogger.DisableLog("rdApp.*")

    work_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(shared_data_dir() / "moleculenet" / "BBBP.csv")[["smiles", "p_np"]]
    valid = [Chem.MolFromSmiles(s) is not None for s in frame["smiles"]]  # the split below names valid rows only
    frame = pd.concat([pd.DataFrame({"smiles": [GIANT], "p_np": [1]}), frame[valid].head(300)], ignore_index=True)
    source = work_dir / "bbbp300_giant.csv"
    frame.to_csv(source, index=False)
    rows = list(range(len(frame)))
    split = work_dir / "split.json"  # the giant (row 0) is trained on
    split.write_text(json.dumps({"train": rows[:-60], "val": rows[-60:-30], "test": rows[-30:]}))
    predict_source = work_dir / "predict.csv"
    predict_source.write_text("smiles\n" + "\n".join([GIANT] + moses_smiles(200)) + "\n")
    env = child_env(sizes)
    result = {"atoms": int(heavy_atoms([GIANT])[0]), "molecules": len(frame)}
    for label, budget in (("size_blind", 0), ("size_aware", DEFAULT_ATOM_BUDGET)):
        folder = work_dir / label
        config = {"preset": "small", "overrides": dict(sizes.finetune_overrides), "target_columns": ["p_np"],
                  "split_file": str(split), "seeds": [seed], "epochs": 1, "patience": None, "progress": False,
                  "jobs": sizes.jobs, "atom_budget": budget}
        train = run_measured([sys.executable, "-c", LGMCL_FINETUNE, str(source), str(folder / "run"),
                              json.dumps(config)], {**env, "LGMCL_CACHE": str(work_dir / "cache")},
                             work_dir / f"{label}_finetune.log")
        predict = run_measured([sys.executable, "-c", LGMCL_PREDICT, str(folder / "run"), str(predict_source),
                                str(folder / "predictions.csv"), json.dumps({"atom_budget": budget})],
                               env, work_dir / f"{label}_predict.log")
        predicted = pd.read_csv(folder / "predictions.csv", keep_default_na=False)
        result[label] = {"atom_budget": budget, "finetune": train, "predict": predict,
                         "giant_predicted": bool(predicted.loc[0, "error"] == "")}
    return result


def run(parts: list[str], sizes: Sizes, chemprop_python: str | None, work_dir: Path) -> dict:
    """Every requested part, in PARTS order, with the machine before and its load after."""
    if {"predict", "by_size"} & set(parts) and "finetune" not in parts:
        raise ValueError("predict and by_size use the models the finetune part trains: add finetune to the parts")
    report = {"sizes": dataclasses.asdict(sizes), "machine": machine_description(), "part_seconds": {}}
    runs: dict = {}
    for part in (p for p in PARTS if p in parts):
        print(f"speed: {part} ...", flush=True)
        started = time.perf_counter()
        if part == "featurize":
            report[part] = featurize_part(sizes)
        elif part == "pretrain":
            report[part] = pretrain_part(sizes)
        elif part == "finetune":
            report["padding"] = padding_part(sizes)
            report[part], runs = finetune_part(sizes, work_dir / part, chemprop_python)
        elif part == "predict":
            report[part] = predict_part(sizes, work_dir / part, runs)
        elif part == "by_size":
            report[part] = by_size_part(sizes, runs)
        else:
            report[part] = giant_part(sizes, work_dir / part)
        report["part_seconds"][part] = round(time.perf_counter() - started, 1)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def write_report(report: dict, out: Path) -> Path:
    """``out``/speed.json and the Markdown summary speed.md beside it."""
    path = output_dir(out) / "speed.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(report))
    return path


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Speed summary", "",
             f"{m['date']}: {m['cpu_model']}, {m['cores_usable']} usable cores of {m['cores_total']}, "
             f"{m['memory_gib']} GiB, GPU: {m['gpu'] or 'none'}; torch {m['torch']}, dgl {m['dgl']}, "
             f"rdkit {m['rdkit']}, lgmcl_dgl {m['lgmcl_dgl']}, Python {m['python']}; child processes run on "
             f"{report['sizes']['threads']} threads. Load average before {m['load_average']}, after "
             f"{report['load_average_after']}: on a shared machine compare CPU seconds, not wall.", ""]
    if "featurize" in report:
        f = report["featurize"]
        lines.append(f"featurize: {f['ours_mol_per_s']} molecules/s ({f['jobs']} jobs), {f['ours_cpu_ms_per_mol']} "
                     f"CPU-ms/molecule on {f['n']} MOSES molecules; naive loop {f['naive_mol_per_s']} molecules/s, "
                     f"{f['naive_cpu_ms_per_mol']} CPU-ms/molecule; identical output: {f['identical']['all']}.")
    for row in report.get("pretrain", []):
        lines.append(f"pretrain, {row['preset']}: {row['molecules_per_second']:.1f} molecules/s, step "
                     f"{row['step_seconds']:.2f} s on batches of {row['batch_size']}, peak {row['peak_memory_mb']:.0f} MB.")
    if "padding" in report:
        p = report["padding"]
        lines += ["", f"## Padding efficiency (real atoms / padded atom slots; training batches of {p['batch_size']}, "
                  f"mean of {p['epochs']} epochs)", "",
                  f"| dataset | train molecules | atoms mean / p95 / max | size-blind | size-aware (budget "
                  f"{p['atom_budget']}) | batches blind / aware |", "| --- | ---: | --- | ---: | ---: | --- |"]
        for name, r in p["datasets"].items():
            lines.append(f"| {name} | {r['molecules']} | {r['atoms_mean']} / {r['atoms_p95']:.0f} / {r['atoms_max']} | "
                         f"{r['size_blind']:.3f} | {r['size_aware']:.3f} | {r['batches_size_blind']:.0f} / "
                         f"{r['batches_size_aware']:.1f} |")
    if "finetune" in report:
        lines += ["", "## Fine-tuning, the three runs of a dataset one after the other on one split", "",
                  "Epoch: its training batches only, median over epochs; command: the whole child process (start-up, "
                  "featurisation and descriptions from a cold cache, validation, testing) and the peak RSS of its "
                  "process tree.", "",
                  "| dataset | train | model | s/epoch | CPU-s/epoch | molecules/s | command s | command CPU-s | peak RSS MB |",
                  "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        ratios = []
        for f in report["finetune"]:
            for key in ("lgmcl_size_blind", "chemprop", "lgmcl"):
                r = f[key]
                if r:
                    c = r["command"]
                    lines.append(f"| {f['dataset']} | {f['split']['train']} | {r['what']} | {r['seconds_per_epoch']:.2f} | "
                                 f"{r['cpu_seconds_per_epoch']:.2f} | {r['mol_per_s']:.0f} | {c['wall_seconds']:.1f} | "
                                 f"{c['cpu_seconds']:.1f} | {c['peak_rss_mb']:.0f} |")
            if f["chemprop"]:
                chemprop = f["chemprop"]["cpu_seconds_per_epoch"]
                ratios.append(f"{f['dataset']} {f['lgmcl']['cpu_seconds_per_epoch'] / chemprop:.2f}x (size-blind "
                              f"{f['lgmcl_size_blind']['cpu_seconds_per_epoch'] / chemprop:.2f}x)")
        if ratios:
            lines += ["", "LGM-CL / chemprop CPU-seconds per training epoch: " + "; ".join(ratios) + "."]
    if "predict" in report:
        p = report["predict"]
        floor = p["input_floor"]
        lines += ["", f"## Predict, {p['molecules']} MOSES molecules ({p['threads']} threads, the BBBP models)", "",
                  "Marginal: CPU past the fixed cost (imports, model load), (CPU for all molecules - CPU for one) / "
                  "(molecules - 1). Input floor: LGM-CL's inputs alone (graphs, 3 fingerprints, descriptions, tokens) "
                  "computed in one process.", "",
                  "| tool | molecules/s | CPU-ms/molecule end to end | marginal CPU-ms/molecule | peak RSS MB |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for tool in ("lgmcl", "chemprop"):
            if tool in p:
                r = p[tool]
                lines.append(f"| {tool} | {r['mol_per_s']:.0f} | {r['cpu_ms_per_mol']:.2f} | "
                             f"{r['marginal_cpu_ms_per_mol']:.2f} | {r['end_to_end']['peak_rss_mb']:.0f} |")
        lines += [f"| LGM-CL input floor | {floor['mol_per_s']:.0f} | {floor['cpu_ms_per_mol']:.2f} | | |", "",
                  f"LGM-CL marginal predict / input floor: "
                  f"{p['lgmcl']['marginal_cpu_ms_per_mol'] / floor['cpu_ms_per_mol']:.2f}x."]
    if "by_size" in report:
        z = report["by_size"]
        lines += ["", f"## Cost by molecule size ({z['dataset']} molecules + the 492-atom one; its size-aware model, "
                  "1 thread)", "",
                  "| atoms | molecules | mean atoms | inputs CPU-ms/mol | model CPU-ms/mol | model CPU-ms/atom | all CPU-ms/atom |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['atoms']} | {r['molecules']} | {r['atoms_mean']} | {r['inputs_cpu_ms_per_mol']} | "
                  f"{r['model_cpu_ms_per_mol']} | {r['model_cpu_ms_per_atom']} | {r['total_cpu_ms_per_atom']} |"
                  for r in z["buckets"]]
        lines += ["", f"Largest / smallest CPU-ms per atom over buckets of at least 2 molecules: {z['per_atom_spread']}x."]
    if "giant" in report:
        g = report["giant"]
        lines += ["", f"## A {g['atoms']}-atom molecule among {g['molecules'] - 1} BBBP molecules: fine-tune 1 epoch, "
                  "predict it with 200 MOSES molecules", "",
                  "| batches | finetune peak RSS MB | finetune CPU-s | predict peak RSS MB | predict CPU-s | giant predicted |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        for label in ("size_blind", "size_aware"):
            r = g[label]
            lines.append(f"| {label.replace('_', '-')} (atom budget {r['atom_budget']}) | {r['finetune']['peak_rss_mb']:.0f} | "
                         f"{r['finetune']['cpu_seconds']:.1f} | {r['predict']['peak_rss_mb']:.0f} | "
                         f"{r['predict']['cpu_seconds']:.1f} | {r['giant_predicted']} |")
    lines += ["", "Seconds per part: " + ", ".join(f"{k} {v}" for k, v in report["part_seconds"].items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: BBBP + ClinTox, 3 epochs, 1000 molecules")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, any of {', '.join(PARTS)}")
    parser.add_argument("--epochs", type=int, default=None, help="finetune epochs (default: 5, --quick 3)")
    parser.add_argument("--datasets", default=None,
                        help="finetune datasets, comma-separated: BBBP first, a large-molecule set last")
    parser.add_argument("--finetune-n", type=int, default=None, help="molecules drawn from each finetune dataset (0: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch / OpenMP threads of each child (default 2)")
    parser.add_argument("--chemprop-python", default=None, help="Python of an environment with chemprop v2")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of speed.json and speed.md")
    args = parser.parse_args()
    parts = args.parts.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    sizes = QUICK if args.quick else FULL
    if args.epochs:
        sizes = dataclasses.replace(sizes, epochs=args.epochs)
    if args.datasets:
        sizes = dataclasses.replace(sizes, finetune_datasets=tuple(args.datasets.split(",")))
    if args.finetune_n is not None:
        sizes = dataclasses.replace(sizes, finetune_n=args.finetune_n)
    if args.threads:
        sizes = dataclasses.replace(sizes, threads=args.threads)
    if args.chemprop_python and "finetune" in parts and sizes.epochs < 3:
        parser.error("chemprop trains at least 3 epochs (more than its 2 warm-up epochs): raise --epochs")
    with tempfile.TemporaryDirectory(prefix="lgmcl-speed-") as tmp:
        os.environ["LGMCL_CACHE"] = str(Path(tmp) / "cache")  # cold, private cache: featurisation is part of the cost
        try:
            report = run(parts, sizes, args.chemprop_python, Path(tmp))
        except ValueError as exc:
            parser.error(str(exc))
    path = write_report(report, args.out)
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
