"""MoleculeNet table: LGM-CL against the baselines a user would pick instead, on identical splits.

Every cell (dataset x protocol x seed x method) is written to results.json as soon as it finishes,
so a long run can be stopped and continued; the table and plot are rebuilt from that file. An LGM-CL
cell stopped by SIGTERM or Ctrl-C continues from its last checkpoint (at most an epoch is redone), and
its wall time adds up the runs.

    python benchmarks/moleculenet.py                      # all shared datasets, both protocols, 3 seeds
    python benchmarks/moleculenet.py --quick              # bbbp + esol, one seed, short training
    python benchmarks/moleculenet.py --datasets bbbp --methods rf,lgmcl_scratch
    python benchmarks/moleculenet.py --ablations          # what each part buys: bbbp + esol, both protocols, 3 seeds

Ablations start from the same shipped encoders as ``lgmcl_pretrained`` and change one thing:
a modality switched off, the fusion kind, or the pretraining objectives. The objective rows need
encoders pretrained with one objective on the same recipe (``lgmcl pretrain --objectives graph``,
``--objectives text``), given with ``--objective-checkpoints graph=DIR,text=DIR``; they are
skipped with a note otherwise (benchmarks/results/ablations/encoders/ holds the ones in the table).
One row starts from no encoders: ``scratch_pretrained_architecture``, the control for
``lgmcl_pretrained`` (same architecture, random weights).

The LGM-CL methods train on size-blind batches (``--atom-budget 0``) by default: the batches the
committed tables were made with; ``--atom-budget 4096`` gives lgmcl's default size-aware batches.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from _common import cpu_model
from lgmcl_dgl.data import registry
from lgmcl_dgl.data.artifacts import atomic_write_json, atomic_write_text
from lgmcl_dgl.data.load import MoleculeTable, load_molecules
from lgmcl_dgl.data.locations import shared_data_dir
from lgmcl_dgl.data.splits import Split, load_split_file, make_split
from lgmcl_dgl.evaluate.metrics import HIGHER_IS_BETTER, PRIMARY_METRIC, score

PROTOCOLS = {"random": ((0.6, 0.2, 0.2), "random"), "scaffold": ((0.8, 0.1, 0.1), "scaffold")}
# smallest first, so a run stopped part-way has finished whole rows of the table
SHARED_FILES = {"freesolv": "SAMPL.csv", "esol": "delaney-processed.csv", "clintox": "clintox.csv.gz",
                "bace": "bace.csv", "bbbp": "BBBP.csv", "lipophilicity": "Lipophilicity.csv",
                "tox21": "tox21.csv.gz", "toxcast": "toxcast_data.csv.gz"}


def load_dataset(name: str) -> MoleculeTable:
    """Registry datasets from ../shared/data when present (no network), else through the registry."""
    spec = registry.DATASETS.get(name)
    shared = shared_data_dir()
    if spec and shared and (shared / "moleculenet" / SHARED_FILES.get(name, "-")).is_file():
        columns = list(spec.task_columns) if spec.task_columns else None
        table = load_molecules(shared / "moleculenet" / SHARED_FILES[name], spec.smiles_column, columns)
        table.spec = spec
        return table
    return load_molecules(name)


def task_type_of(table: MoleculeTable) -> str:
    if table.spec is not None:
        return table.spec.task_type
    values = np.unique(table.labels[table.mask])
    return "classification" if set(values.tolist()) <= {0.0, 1.0} else "regression"


# ---- methods: each takes (table, split, task_type, seed, args, workdir) and returns test predictions

def run_rf(table, split, task_type, seed, args, workdir):
    """Random forest on 2048-bit Morgan (radius 2) fingerprints, one forest per task.

    Classification gets the bits as CSR: scikit-learn's sparse splitter gave identical
    probabilities 1.5-1.9x faster (BBBP, Tox21 SR-MMP), which matters for ToxCast's 617 forests
    per cell. Regression keeps the dense array: no faster, and it breaks ties between splits
    differently, so the committed regression cells would not reproduce.
    """
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator
    from scipy.sparse import csr_matrix
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    x = np.stack([generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in table.smiles]).astype(np.uint8)
    if task_type == "classification":
        x = csr_matrix(x)
    out = np.full((len(split.test), len(table.task_names)), np.nan)
    for j in range(len(table.task_names)):
        known = split.train[table.mask[split.train, j]]
        y = table.labels[known, j]
        if task_type == "classification":
            if np.unique(y).size < 2:
                continue
            model = RandomForestClassifier(n_estimators=args.rf_trees, n_jobs=args.rf_jobs, random_state=seed)
            out[:, j] = model.fit(x[known], y.astype(int)).predict_proba(x[split.test])[:, 1]
        else:
            model = RandomForestRegressor(n_estimators=args.rf_trees, n_jobs=args.rf_jobs, random_state=seed)
            out[:, j] = model.fit(x[known], y).predict(x[split.test])
    return out


CHEMPROP_COMMON = ["-s", "smiles", "--num-workers", "0"]


def run_chemprop(table, split, task_type, seed, args, workdir):
    """chemprop v2 (its own environment, ``--chemprop-python``) trained and tested on the same split."""
    if not args.chemprop_python:
        raise SkipCell("chemprop not run: pass --chemprop-python PATH (a Python with chemprop v2 installed)")
    columns = chemprop_inputs(table, split, workdir)
    cli = [str(Path(args.chemprop_python).parent / "chemprop")]  # the console script of that environment
    subprocess.run([*cli, *chemprop_train_args(workdir, columns, task_type, args.epochs, seed)],
                   check=True, capture_output=True)
    subprocess.run([*cli, "predict", "-i", str(workdir / "test.csv"), *CHEMPROP_COMMON,
                    "--model-paths", str(workdir / "model" / "model_0" / "best.pt"), "-o", str(workdir / "pred.csv")],
                   check=True, capture_output=True)
    return pd.read_csv(workdir / "pred.csv")[columns].to_numpy(dtype=float)


def chemprop_inputs(table, split, workdir: Path) -> list[str]:
    """``workdir``/data.csv (molecules, labels, the split part of each) and test.csv; returns the label columns."""
    workdir.mkdir(parents=True, exist_ok=True)
    columns = [f"task{j}" for j in range(len(table.task_names))]
    frame = pd.DataFrame(table.labels, columns=columns)
    frame.insert(0, "smiles", table.smiles)
    part = np.empty(len(table), dtype=object)
    for name, positions in split.parts().items():
        part[positions] = name
    frame["split"] = part
    frame.to_csv(workdir / "data.csv", index=False)
    frame.iloc[split.test][["smiles"]].to_csv(workdir / "test.csv", index=False)
    return columns


def chemprop_train_args(workdir: Path, columns: list[str], task_type: str, epochs: int, seed: int) -> list[str]:
    """``chemprop train`` arguments for ``chemprop_inputs``' files: the harness's split, exactly ``epochs`` epochs
    (chemprop's patience defaults to the epoch count), the model in ``workdir``/model."""
    return ["train", "-i", str(workdir / "data.csv"), *CHEMPROP_COMMON, "--target-columns", *columns,
            "--splits-column", "split", "-t", task_type, "-o", str(workdir / "model"),
            "--epochs", str(epochs), "--pytorch-seed", str(seed)]


def _lgmcl(pretrained: str | None, modalities: list[str] | None, overrides: dict | None = None):
    """LGM-CL through the real ``finetune`` API on the harness's split file. ``pretrained`` may be
    ``objective:NAME``: the encoders given for NAME in ``--objective-checkpoints``."""

    def run(table, split, task_type, seed, args, workdir):
        from lgmcl_dgl.finetune import FinetuneConfig, finetune

        start = pretrained
        if start and start.startswith("objective:"):
            name = start.split(":", 1)[1]
            start = args.objective_checkpoints.get(name)
            if not start:
                raise SkipCell(f"no encoders pretrained on the {name!r} objective: pass --objective-checkpoints {name}=DIR")
        workdir.mkdir(parents=True, exist_ok=True)
        split_file = split.save(workdir / "split.json", table)
        config = FinetuneConfig(pretrained=start, modalities=modalities, overrides=dict(overrides or {}),
                                task_type=task_type, smiles_column=table.spec.smiles_column if table.spec else None,
                                target_columns=table.task_names, split_file=str(split_file), seeds=[seed],
                                epochs=args.epochs, patience=args.patience, preset=args.preset,
                                atom_budget=args.atom_budget, progress=False)
        run = workdir / "run"
        config.resume = _interrupted_run_of(run, config)
        config.overwrite = not config.resume
        if config.resume:
            print(f"{workdir.name}: continuing the interrupted run in {run}", flush=True)
        else:
            (workdir / EARLIER_SECONDS).unlink(missing_ok=True)
        run_dir = finetune(table.source, run, config)
        frame = pd.read_csv(run_dir / f"seed_{seed}" / "predictions_test.csv")
        by_row = frame.set_index("row")
        return by_row.loc[table.rows[split.test], [f"{name}_pred" for name in table.task_names]].to_numpy(dtype=float)

    return run


def _interrupted_run_of(run: Path, config) -> bool:
    """Whether ``run`` holds an unfinished run of these settings (a cell stopped by a signal), which finetune
    continues from its last checkpoint; a run of other settings (say, other --epochs) is started over."""
    from lgmcl_dgl.finetune import RUN_CONFIG

    saved = run / RUN_CONFIG
    return saved.is_file() and json.loads(saved.read_text()) == json.loads(json.dumps(config.identity()))


class SkipCell(RuntimeError):
    """A method that cannot run here; the reason is printed and the cell left empty."""


METHODS = {
    "lgmcl_pretrained": _lgmcl("zinc-small", None),
    "lgmcl_scratch": _lgmcl(None, None),
    "attentivefp": _lgmcl(None, ["local"]),  # dgllife's AttentiveFP GNN + readout + head, nothing else
    "rf": run_rf,
    "chemprop": run_chemprop,
}
# the full model from the shipped encoders, then one change each
ABLATIONS = {
    "lgmcl_pretrained": METHODS["lgmcl_pretrained"],
    "without_global": _lgmcl("zinc-small", ["local", "text", "fingerprints"]),
    "without_local": _lgmcl("zinc-small", ["global", "text", "fingerprints"]),
    "without_text": _lgmcl("zinc-small", ["local", "global", "fingerprints"]),
    "without_fingerprints": _lgmcl("zinc-small", ["local", "global", "text"]),
    "attention_fusion": _lgmcl("zinc-small", None, {"fusion": "attention"}),
    "pretrained_graph_only": _lgmcl("objective:graph", None),
    "pretrained_text_only": _lgmcl("objective:text", None),
    # zinc-small's architecture (relative attention, 64 tokens) from random weights: lgmcl_scratch takes the
    # preset's (absolute positions, 128 tokens), so only this row isolates what the pretrained weights buy
    "scratch_pretrained_architecture": _lgmcl(None, None, {"text.relative_attention": True, "text.max_length": 64}),
}


EARLIER_SECONDS = "earlier_seconds.json"  # in a cell's workdir: time its interrupted runs spent


def run_cell(table, split, task_type, seed, method, args, workdir) -> dict:
    from lgmcl_dgl.finetune import FinetuneInterrupted

    start = time.perf_counter()
    try:
        predictions = {**METHODS, **ABLATIONS}[method](table, split, task_type, seed, args, workdir)
    except FinetuneInterrupted:  # SIGTERM / Ctrl-C: the next run of this cell continues from the checkpoint
        atomic_write_json(workdir / EARLIER_SECONDS, {"seconds": _earlier_seconds(workdir) + time.perf_counter() - start})
        raise
    seconds = time.perf_counter() - start + _earlier_seconds(workdir)
    metrics = score(task_type, table.labels[split.test], np.nan_to_num(predictions, nan=0.5), table.task_names)
    metric = PRIMARY_METRIC[task_type]
    # where and when: cells are not bit-reproducible across CPUs, and wall times depend on the machine and its load
    return {"metric": metric, "value": metrics[metric], "seconds": round(seconds, 1),
            "skipped_tasks": metrics["skipped_tasks"], "cpu_model": cpu_model(),
            "load_average": round(os.getloadavg()[0], 2),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _earlier_seconds(workdir: Path) -> float:
    path = workdir / EARLIER_SECONDS
    return json.loads(path.read_text())["seconds"] if path.is_file() else 0.0


def _read_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _record_cell(path: Path, key: str, cell: dict) -> None:
    """Add one cell to results.json under a lock, re-reading it first: processes given different
    --datasets can share one folder (two cores, two runs) without losing each other's cells."""
    import fcntl

    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = _read_results(path)
        results[key] = cell
        atomic_write_json(path, results)


def by_row(results: dict, field: str) -> dict[tuple[str, str], dict[str, list[float]]]:
    """One field of the cells, as {(dataset, protocol): {method: [value per seed]}}."""
    rows: dict[tuple[str, str], dict[str, list[float]]] = {}
    for key, cell in results.items():
        dataset, protocol, _, method = key.split("|")
        rows.setdefault((dataset, protocol), {}).setdefault(method, []).append(cell[field])
    return rows


def write_report(results: dict, out: Path) -> None:
    """Markdown table (mean +- std over seeds, best per row in bold) and a bar plot."""
    rows = by_row(results, "value")
    metric_of = {tuple(key.split("|")[:2]): cell["metric"] for key, cell in results.items()}
    methods = sorted({m for cells in rows.values() for m in cells})
    lines = ["| dataset | protocol | metric | " + " | ".join(methods) + " |",
             "|" + " --- |" * (3 + len(methods))]
    for (dataset, protocol), cells in sorted(rows.items()):
        metric = metric_of[(dataset, protocol)]
        means = {m: float(np.mean(v)) for m, v in cells.items() if v and None not in v}
        best = (max if HIGHER_IS_BETTER[metric] else min)(means, key=means.get) if means else None
        shown = []
        for m in methods:
            if m not in means:
                shown.append("")
                continue
            text = f"{means[m]:.3f} ± {np.std(cells[m]):.3f} (n={len(cells[m])})"
            shown.append(f"**{text}**" if m == best else text)
        lines.append(f"| {dataset} | {protocol} | {metric} | " + " | ".join(shown) + " |")
    lines += ["", *rank_summary(rows, metric_of, methods), "", *wall_times(results, methods)]
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n")
    _plot(rows, methods, out / "table.png")


def rank_summary(rows: dict, metric_of: dict, methods: list[str]) -> list[str]:
    """The issue's targets in numbers: mean rank per protocol over the rows every method finished (all
    seeds), and pretrained against scratch on each row both finished."""
    seeds = max((len(v) for cells in rows.values() for v in cells.values()), default=0)
    done = {key: cells for key, cells in rows.items() if all(len(cells.get(m, [])) == seeds for m in methods)}
    lines = []
    for protocol in sorted({p for _, p in rows}):
        complete = sorted(key for key in done if key[1] == protocol)
        if not complete:
            lines.append(f"{protocol}: no row has every method on {seeds} seeds yet.")
            continue
        ranks = {m: [] for m in methods}
        for key in complete:
            sign = -1 if HIGHER_IS_BETTER[metric_of[key]] else 1
            order = sorted(methods, key=lambda m: sign * float(np.mean(done[key][m])))
            for position, m in enumerate(order, 1):
                ranks[m].append(position)
        shown = ", ".join(f"{m} {np.mean(ranks[m]):.2f}" for m in sorted(methods, key=lambda m: np.mean(ranks[m])))
        lines.append(f"{protocol}: mean rank (1 = best) over {len(complete)} complete row{'s' * (len(complete) > 1)} "
                     f"({', '.join(d for d, _ in complete)}): {shown}.")
    if {"lgmcl_pretrained", "lgmcl_scratch"} <= set(methods):
        pairs = [(key, cells) for key, cells in sorted(rows.items())
                 if len(cells.get("lgmcl_pretrained", [])) == len(cells.get("lgmcl_scratch", [])) == seeds]
        wins = 0
        for key, cells in pairs:
            pretrained, scratch = np.mean(cells["lgmcl_pretrained"]), np.mean(cells["lgmcl_scratch"])
            wins += (pretrained > scratch) == HIGHER_IS_BETTER[metric_of[key]] and pretrained != scratch
        lines.append(f"lgmcl_pretrained beats lgmcl_scratch on {wins} of {len(pairs)} rows with both on {seeds} seeds.")
    return lines


def wall_times(results: dict, methods: list[str]) -> list[str]:
    """What each method costs per cell (seconds, mean over seeds), read beside the CPU and load each cell records."""
    seconds = by_row(results, "seconds")
    total = sum(cell["seconds"] for cell in results.values())
    lines = [f"Wall time per cell in seconds (mean over seeds); {len(results)} cells, {total / 3600:.1f} h in all.", "",
             "| dataset | protocol | " + " | ".join(methods) + " |", "|" + " --- |" * (2 + len(methods))]
    for (dataset, protocol), cells in sorted(seconds.items()):
        shown = [f"{np.mean(cells[m]):.0f}" if m in cells else "" for m in methods]
        lines.append(f"| {dataset} | {protocol} | " + " | ".join(shown) + " |")
    return lines


def _plot(rows, methods, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{d}\n{p}" for d, p in sorted(rows)]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels)), 4))
    width = 0.8 / max(1, len(methods))
    for i, method in enumerate(methods):
        means = [np.mean(rows[k].get(method, [np.nan])) for k in sorted(rows)]
        stds = [np.std(rows[k].get(method, [np.nan])) for k in sorted(rows)]
        ax.bar(np.arange(len(labels)) + i * width, means, width, yerr=stds, label=method)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, fontsize=7)
    ax.set_ylabel("ROC-AUC (classification) / RMSE (regression)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _seeds(text: str) -> list[int]:
    """One command-line word of seeds: ``0 1 2`` (as ``lgmcl finetune --seeds``) and ``0,1,2`` (as ``--datasets``)."""
    try:
        return [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are whole numbers, got {text!r}") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(SHARED_FILES), help="registry names or CSV paths")
    parser.add_argument("--protocols", default="random,scaffold")
    parser.add_argument("--seeds", type=_seeds, nargs="+", default=[[0, 1, 2]], help="0 1 2 or 0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"any of {', '.join({**METHODS, **ABLATIONS})}")
    parser.add_argument("--rf-trees", type=int, default=500)
    parser.add_argument("--rf-jobs", type=int, default=int(os.environ.get("OMP_NUM_THREADS") or -1),
                        help="cores each forest uses [default: $OMP_NUM_THREADS, else all]; the forests are the same "
                             "for any count, so a run sharing the machine with another can keep to its share")
    parser.add_argument("--epochs", type=int, default=50, help="training epochs of the neural methods")
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--atom-budget", type=int, default=0,
                        help="LGM-CL batches: 0 = size-blind, as in the committed tables; lgmcl's default is 4096")
    parser.add_argument("--chemprop-python", default=None, help="Python of an environment with chemprop v2")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder [default: benchmarks/results/moleculenet, or .../ablations]")
    parser.add_argument("--quick", action="store_true", help="bbbp + esol, seed 0, 100 trees: a CI-sized check")
    parser.add_argument("--ablations", action="store_true",
                        help=f"the ablation table instead ({', '.join(ABLATIONS)}); datasets default to bbbp,esol")
    parser.add_argument("--objective-checkpoints", default="",
                        help="NAME=DIR,...: encoders pretrained on one objective (graph, text) for the ablation rows")
    args = parser.parse_args(argv)
    args.seeds = [seed for group in args.seeds for seed in group]
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # each model's epoch lines in the log
    args.objective_checkpoints = dict(item.split("=", 1) for item in args.objective_checkpoints.split(",") if item)
    if args.ablations:
        if args.datasets == parser.get_default("datasets"):
            args.datasets = "bbbp,esol"
        if args.methods == parser.get_default("methods"):
            args.methods = ",".join(ABLATIONS)
    if args.quick:
        args.datasets, args.seeds, args.rf_trees, args.epochs = "bbbp,esol", [0], 100, 5
    args.out = args.out or Path("benchmarks/results") / ("ablations" if args.ablations else "moleculenet")
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    for dataset in args.datasets.split(","):
        table = load_dataset(dataset)
        task_type = task_type_of(table)
        for protocol in args.protocols.split(","):
            sizes, kind = PROTOCOLS[protocol]
            for seed in args.seeds:
                split_file = args.out / "splits" / f"{Path(dataset).stem}-{protocol}-{seed}.json"
                if split_file.is_file():  # the committed splits every method is judged on, read as they are
                    split: Split = load_split_file(split_file, table)
                else:
                    split = make_split(table, kind, sizes, seed)
                    split.save(split_file, table)
                for method in args.methods.split(","):
                    key = f"{Path(dataset).stem}|{protocol}|{seed}|{method}"
                    if key in _read_results(results_path):  # another process on this folder may have done it
                        continue
                    workdir = args.out / "work" / key.replace("|", "-")
                    try:
                        cell = run_cell(table, split, task_type, seed, method, args, workdir)
                    except SkipCell as skip:
                        print(f"{key}: skipped: {skip}", flush=True)
                        continue
                    print(f"{key}: {cell['metric']} {cell['value']} ({cell['seconds']} s)", flush=True)
                    _record_cell(results_path, key, cell)
    write_report(_read_results(results_path), args.out)
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
