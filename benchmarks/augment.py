"""How fast is `lgmcl augment --backend rdkit`, and what do its descriptions look like?

Runs the augment step (the whole step: reading, parsing, views, descriptions, writing, manifest)
on BBBP and on the first N MOSES SMILES with each --jobs value, and reports molecules/s,
counts, description lengths and an example description. The machine's load is recorded with
the figures: on a shared machine other processes take cores from the workers, so CPU seconds
(this process and its workers) are reported too; molecules per CPU-second does not depend on load.

    PYTHONPATH=. python benchmarks/augment.py --jobs 1,2 --moses 20000 --n-smiles 4

--resume-demo instead kills `lgmcl augment --backend openai` (SIGKILL) part-way through BBBP against
the chat-completions test server on 127.0.0.1 (tests/text/conftest.py), reruns it, and checks that
every valid molecule is described exactly once and how many requests were paid twice.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, cpu_seconds, machine, moses_smiles, output_dir, write_smiles_csv
from lgmcl_dgl.data.artifacts import Manifest
from lgmcl_dgl.text.augment import AugmentConfig, augment, load_descriptions

def run(name: str, source: str | Path, jobs: int, n_smiles: int, folder: Path) -> dict:
    out = folder / f"{name}_j{jobs}_k{n_smiles}"
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), cpu_seconds()
    augment(source, out, AugmentConfig(jobs=jobs, n_smiles=n_smiles, progress=False))
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    manifest = Manifest.read(out, "augment")
    lengths = np.array([len(r.description) for r in load_descriptions(out).values()])
    result = {"dataset": name, "jobs": jobs, "n_smiles": n_smiles, "input_rows": manifest.counts["input"],
              "described": manifest.counts["described"], "invalid": manifest.counts["invalid"],
              "seconds": round(seconds, 2), "molecules_per_s": round(manifest.counts["described"] / seconds, 1),
              "cpu_seconds": round(cpu, 2), "molecules_per_cpu_s": round(manifest.counts["described"] / cpu, 1),
              "chars_mean": round(float(lengths.mean()), 1), "chars_min": int(lengths.min()),
              "chars_max": int(lengths.max()), "load_before": round(load_before, 2)}
    print(json.dumps(result), flush=True)
    return result


def resume_demo(folder: Path, kill_after: int = 600) -> dict:
    spec = importlib.util.spec_from_file_location("chat", Path(__file__).parents[1] / "tests" / "text" / "conftest.py")
    chat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chat)
    server = chat.ChatServer(lambda smiles, attempt: ("sleep", 0.01))
    out, cache = folder / "openai", folder / "answers.sqlite"
    command = [sys.executable, "-m", "lgmcl_dgl", "augment", "bbbp", "-o", str(out), "--backend", "openai",
               "--model", "test-model", "--base-url", server.base_url, "--concurrency", "8", "--cache", str(cache),
               "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    records = out / "descriptions.jsonl"
    while process.poll() is None and (not records.is_file() or records.read_bytes().count(b"\n") < kill_after):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = records.read_bytes().count(b"\n")
    requests_before = sum(server.attempts.values())
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    rows = [json.loads(line)["row"] for line in records.read_text().splitlines()]
    manifest = Manifest.read(out, "augment")
    result = {"records_at_kill": before, "requests_before_kill": requests_before,
              "requests_after_restart": sum(server.attempts.values()) - requests_before,
              "records": len(rows), "unique_rows": len(set(rows)), "rows_sorted": rows == sorted(rows),
              "valid_molecules": manifest.counts["described"] + manifest.counts["failed"],
              "molecules_asked_twice": sum(n > 1 for n in server.attempts.values()),
              "resumed": manifest.counts["resumed"], "cli_output": finished.stdout.strip()}
    server.stop()
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values")
    parser.add_argument("--moses", type=int, default=20000, help="MOSES molecules (0: skip)")
    parser.add_argument("--n-smiles", type=int, default=4, help="randomised SMILES per molecule in a second pass")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON and Markdown results")
    parser.add_argument("--resume-demo", action="store_true", help="the openai kill-and-resume check instead")
    args = parser.parse_args()
    if args.resume_demo:
        with tempfile.TemporaryDirectory() as tmp:
            result = resume_demo(Path(tmp))
        (output_dir(args.out) / "augment_resume.json").write_text(json.dumps(result, indent=2) + "\n")
        return
    jobs = [int(j) for j in args.jobs.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = [("BBBP", "bbbp")]
        if args.moses:
            sources.append(("MOSES", write_smiles_csv(moses_smiles(args.moses), folder)))
        for name, source in sources:
            for j in jobs:
                results.append(run(name, source, j, 0, folder))
            if args.n_smiles:
                results.append(run(name, source, max(jobs), args.n_smiles, folder))
        example = load_descriptions(folder / f"BBBP_j{jobs[0]}_k0")[0]
    report = {"machine": machine(), "results": results,
              "example": {"row": example.row, "smiles": example.smiles, "description": example.description}}
    path = output_dir(args.out) / "augment.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| dataset | jobs | SMILES views | described | invalid | wall s | molecules/s | CPU s | molecules/CPU-s "
             "| chars (mean, min-max) | load |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    lines += [f"| {r['dataset']} | {r['jobs']} | {r['n_smiles']} | {r['described']} | {r['invalid']} | "
              f"{r['seconds']} | {r['molecules_per_s']} | {r['cpu_seconds']} | {r['molecules_per_cpu_s']} | "
              f"{r['chars_mean']} ({r['chars_min']}-{r['chars_max']}) | {r['load_before']} |" for r in results]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
