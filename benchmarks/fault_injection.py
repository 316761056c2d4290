"""Does a kill at any moment lose work or change a result? SIGKILL each long step at random points, resume, compare.

For each step (featurize, augment, pretrain, finetune) on tiny inputs, one uninterrupted run gives the
reference outputs and its duration T. Then, ``--points`` times, a fresh run of the same command is
killed with SIGKILL (its whole process group, workers included) at a random moment in (0, T), the
same command is run again to the end (finetune with ``--resume``), and its outputs are compared
with the reference file by file. Left out of the comparison, because any two runs differ there:
wall times, dates and the like (JSON keys and CSV columns in ``VOLATILE``, ``VOLATILE_IN``), PNG images, TensorBoard event
files, the checkpoints (resumable state, not results) and lock files. Everything else, hidden
leftovers included, must be byte-identical. Each step runs with one thread and one process, as
the exact-resume tests do (other thread counts round some CPU kernels differently).

Opt-in: not part of the test suite (tests/benchmarks/test_fault_injection.py runs a tiny smoke of it).

    PYTHONPATH=. python benchmarks/fault_injection.py --points 3 --out /tmp/faults.json
    PYTHONPATH=. python benchmarks/fault_injection.py                  # 20 points per step
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _common import RESULTS, machine, moses_smiles, shared_data, write_smiles_csv

STEPS = ("featurize", "augment", "pretrain", "finetune")
#: JSON keys and CSV columns that differ between any two runs: wall times, dates, speeds, memory, and
#: augment's count of rows a rerun took over from the killed run
VOLATILE = {"created", "train_seconds", "wall_seconds", "epoch_seconds", "elapsed_s", "mol_per_s", "peak_memory_mb",
            "seconds", "molecules_per_second", "resumed"}
#: per file, JSON keys that differ between any two runs: augment's manifest reports what this invocation
#: did (a resumed one describes fewer rows), pretrain's token cache records the sha256 of the featurize and
#: augment manifests, which hold their creation time
_AUGMENT_REPORT = {"report", "summary"}
VOLATILE_IN = {"manifest.json": _AUGMENT_REPORT, "data/augment/manifest.json": _AUGMENT_REPORT,
               "data/tokens/manifest.json": {"inputs"}}
SKIPPED_DIRS = {"checkpoints", "tensorboard"}
#: small enough for a step to take seconds on one core (dotted keys of the model config)
TINY_MODEL = {"embed_dim": 16, "local.hidden": 16, "local.layers": 1, "global.d_model": 16, "global.heads": 2,
              "global.layers": 1, "global.ffn_dim": 32, "text.vocab_size": 300, "text.hidden": 16, "text.layers": 1,
              "text.heads": 2, "text.intermediate": 32, "text.max_length": 48, "head.fingerprint_hidden": [32, 16],
              "head.task_hidden": 16}


def prepare_inputs(work: Path, molecules: int, bbbp_rows: int) -> dict[str, Path]:
    """The MOSES SMILES every step but finetune reads, a labelled BBBP slice, and the tiny model config."""
    from lgmcl_dgl.models.config import PRESET_DIR, apply_overrides

    work.mkdir(parents=True, exist_ok=True)
    smiles = write_smiles_csv(moses_smiles(molecules), work)
    bbbp = work / f"bbbp_{bbbp_rows}.csv"
    lines = (shared_data() / "moleculenet" / "BBBP.csv").read_text().splitlines()
    bbbp.write_text("\n".join(lines[:bbbp_rows + 1]) + "\n")
    model = work / "tiny_model.yaml"
    model.write_text(yaml.safe_dump(apply_overrides(yaml.safe_load((PRESET_DIR / "small.yaml").read_text()), TINY_MODEL)))
    return {"smiles": smiles, "bbbp": bbbp, "model": model}


def commands(step: str, inputs: dict[str, Path], out: Path) -> tuple[list[str], list[str]]:
    """(first command, resuming command) of ``step`` writing ``out``."""
    lgmcl = [sys.executable, "-m", "lgmcl_dgl"]
    if step == "featurize":
        first = [*lgmcl, "featurize", str(inputs["smiles"]), "-o", str(out), "--shard-size", "25", "--jobs", "1"]
    elif step == "augment":
        first = [*lgmcl, "augment", str(inputs["smiles"]), "-o", str(out), "--n-smiles", "2", "--jobs", "1"]
    elif step == "pretrain":
        first = [*lgmcl, "pretrain", str(inputs["smiles"]), "-o", str(out), "--config", str(inputs["model"]),
                 "--epochs", "3", "--batch-size", "16", "--checkpoint-every", "2", "--log-every", "1",
                 "--warmup-steps", "2", "--smiles-views", "2", "--jobs", "1", "--device", "cpu", "--quiet"]
    else:
        first = [*lgmcl, "finetune", str(inputs["bbbp"]), "-o", str(out), "--config", str(inputs["model"]),
                 "--epochs", "4", "--patience", "10", "--seeds", "0", "1", "--batch-size", "16", "--jobs", "1",
                 "--device", "cpu"]
        return first, [*first, "--resume"]
    return first, first


def run(argv: list[str], cache: Path, kill_after: float | None = None, timeout: float = 1800) -> tuple[int | None, str]:
    """Run ``argv`` in its own process group; SIGKILL the group after ``kill_after`` s. (exit code or None, stderr tail)."""
    env = {**os.environ, "LGMCL_CACHE": str(cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            child.wait(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            if kill_after is None:
                raise
            return None, ""
        stderr.seek(0)
        return child.returncode, stderr.read()[-2000:]


def fingerprint(out: Path) -> dict[str, str]:
    """Every compared file of an output: relative path -> its content with the volatile fields taken out."""
    found = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out)
        if (not path.is_file() or SKIPPED_DIRS & set(relative.parts) or path.suffix == ".png"
                or path.name.startswith(".lock")):
            continue
        found[str(relative)] = _stable(path, VOLATILE | VOLATILE_IN.get(relative.as_posix(), set()))
    return found


def _stable(path: Path, volatile: set[str]) -> str:
    data = path.read_bytes()
    if path.suffix == ".json":
        return json.dumps(_drop(json.loads(data), volatile), sort_keys=True)
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        if rows:
            keep = [i for i, name in enumerate(rows[0]) if name not in volatile]
            return "\n".join(",".join(row[i] for i in keep if i < len(row)) for row in rows)
    return hashlib.sha256(data).hexdigest()


def _drop(value, volatile: set[str]):
    if isinstance(value, dict):
        return {k: _drop(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_drop(v, volatile) for v in value]
    return value


def differences(reference: dict[str, str], got: dict[str, str]) -> list[str]:
    missing = sorted(set(reference) - set(got))
    extra = sorted(set(got) - set(reference))
    changed = sorted(k for k in set(reference) & set(got) if reference[k] != got[k])
    return [f"missing {m}" for m in missing] + [f"extra {e}" for e in extra] + [f"differs {c}" for c in changed]


def inject(step: str, inputs: dict[str, Path], work: Path, points: int, rng: random.Random) -> dict:
    """The reference run of ``step``, then ``points`` killed-and-resumed runs compared with it."""
    folder = work / step
    first, again = commands(step, inputs, folder / "reference")
    started = time.monotonic()
    code, stderr = run(first, folder / "reference-cache")
    duration = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"{step}: the uninterrupted run failed:\n{stderr}")
    reference = fingerprint(folder / "reference")
    results = []
    for index in range(points):
        out, cache = folder / f"point-{index}", folder / f"point-{index}-cache"
        first, again = commands(step, inputs, out)
        kill_at = rng.uniform(0, duration)
        code, _ = run(first, cache, kill_after=kill_at)
        killed = code is None
        rerun_code, rerun_stderr = run(again, cache)
        found = differences(reference, fingerprint(out)) if rerun_code == 0 else [f"rerun exit {rerun_code}"]
        results.append({"kill_at_s": round(kill_at, 2), "killed": killed, "rerun_exit": rerun_code,
                        "identical": not found, "differences": found[:20],
                        "rerun_error": rerun_stderr.strip().splitlines()[-1:] if rerun_code else []})
        if not found:  # a differing output stays in --work for a look
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
        print(f"  {step} point {index + 1}/{points}: kill at {kill_at:.1f} s of {duration:.1f} s"
              f"{'' if killed else ' (finished before it)'} -> {'identical' if not found else found[:3]}", flush=True)
    identical = sum(r["identical"] for r in results)
    return {"reference_seconds": round(duration, 1), "compared_files": len(reference), "points": results,
            "identical": identical, "total": points, "summary": f"{identical} of {points} identical"}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20, help="Kills per step.")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--molecules", type=int, default=200, help="MOSES molecules for featurize, augment, pretrain.")
    parser.add_argument("--bbbp-rows", type=int, default=120, help="BBBP rows for finetune.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument("--work", type=Path, default=None, help="Working folder [default: a temporary one].")
    parser.add_argument("--out", type=Path, default=RESULTS / "fault_injection.json")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        inputs = prepare_inputs(work, args.molecules, args.bbbp_rows)
        report = {"machine": machine(), "steps": {},
                  "settings": {k: v for k, v in vars(args).items() if k not in ("work", "out")}}
        for step in args.steps:
            print(f"{step}:", flush=True)
            report["steps"][step] = inject(step, inputs, work, args.points, rng)
            print(f"{step}: {report['steps'][step]['summary']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for step, result in report["steps"].items():
        print(f"{step}: {result['summary']} (reference run {result['reference_seconds']} s)")
    return report


if __name__ == "__main__":
    main()
