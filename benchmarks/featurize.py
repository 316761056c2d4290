"""How fast is `lgmcl featurize`, is its output identical to a naive loop's, and does memory stay flat?

compare: the same molecules through (a) a naive single-process loop (dgllife smiles_to_bigraph +
RDKit MACCS + scikit-fingerprints PubChem on the molecule with explicit H + RDKit ErG, one
molecule at a time, as the reference does per batch) and (b) `featurize` with 1 and with --jobs
workers; checks every graph, feature and fingerprint is equal and prints molecules/s and the ratios.
It also measures how many cores' worth of CPU the machine actually gives --jobs processes (on a
shared machine, other work takes cores), which bounds the parallel part of the speedup.
scaling: `lgmcl featurize` as a subprocess on the first N SMILES of both MOSES files, with wall
time and the peak resident memory of the whole process tree (sampled every 0.2 s).
fingerprints: CPU ms per molecule of PubChem's previous code path (scikit-fingerprints' Python part on
the molecule with explicit H) and of the current one (on the molecule as parsed), in one run.

    PYTHONPATH=. python benchmarks/featurize.py compare --n 4000
    PYTHONPATH=. python benchmarks/featurize.py fingerprints --n 3000
    PYTHONPATH=. python benchmarks/featurize.py scaling --sizes 25000,100000,352299
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, cpu_seconds, machine, moses_smiles, output_dir, write_smiles_csv


def naive_loop(smiles: list[str]):
    """One molecule at a time with the libraries' public APIs: what a user would write first."""
    from dgllife.utils import AttentiveFPAtomFeaturizer, AttentiveFPBondFeaturizer, smiles_to_bigraph
    from rdkit import Chem
    from rdkit.Chem import MACCSkeys, rdReducedGraphs
    from skfp.fingerprints import PubChemFingerprint

    atoms, bonds, pubchem = AttentiveFPAtomFeaturizer(), AttentiveFPBondFeaturizer(), PubChemFingerprint()
    graphs, fingerprints = [], []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        graphs.append(smiles_to_bigraph(s, node_featurizer=atoms, edge_featurizer=bonds))
        fingerprints.append(np.concatenate([
            np.array(list(MACCSkeys.GenMACCSKeys(mol)), dtype=np.float32),
            pubchem.transform([Chem.AddHs(mol)])[0].astype(np.float32),
            np.asarray(rdReducedGraphs.GetErGFingerprint(mol, fuzzIncrement=0.3, maxPath=21, minPath=1), dtype=np.float32)]))
    return graphs, np.stack(fingerprints)


def identical(naive_graphs, naive_fps, out_dir: Path) -> dict:
    import dgl
    import torch

    from lgmcl_dgl.featurize import FeaturizedDataset, collate

    ds = FeaturizedDataset(out_dir)
    ours = collate([ds[i] for i in range(len(ds))])
    theirs = dgl.batch(naive_graphs)
    checks = {
        "n_molecules": len(ds) == len(naive_graphs),
        "batch_num_nodes": torch.equal(ours.graph.batch_num_nodes(), theirs.batch_num_nodes()),
        "batch_num_edges": torch.equal(ours.graph.batch_num_edges(), theirs.batch_num_edges()),
        "edges": all(torch.equal(a, b) for a, b in zip(ours.graph.edges(), theirs.edges())),
        "atom_features": torch.equal(ours.graph.ndata["h"], theirs.ndata["h"]),
        "bond_features": torch.equal(ours.graph.edata["e"], theirs.edata["e"]),
        "fingerprints": torch.equal(ours.fingerprints, torch.from_numpy(naive_fps)),
    }
    return {"all": all(checks.values()), **checks}


def cpu_parallelism(jobs: int) -> float:
    """How many cores' worth of CPU this machine gives `jobs` processes right now (ideal: `jobs`).

    On a shared machine other users' work takes cores; this calibrates the parallel part of the speedup.
    """
    import multiprocessing

    work = [4_000_000] * jobs
    start = time.perf_counter()
    for n in work:
        _spin(n)
    serial = time.perf_counter() - start
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        start = time.perf_counter()
        pool.map(_spin, work)
        parallel = time.perf_counter() - start
    return round(serial / parallel, 2)


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def same_files(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in (a / "shards").rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in (b / "shards").rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files)


def compare(n: int, jobs: int) -> dict:
    from lgmcl_dgl.featurize import FeaturizeConfig, featurize

    smiles = moses_smiles(n)
    result = {"n": n, "jobs": jobs, "machine_before": machine(), "cpu_parallelism_available": cpu_parallelism(jobs)}
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_smiles_csv(smiles, Path(tmp))
        start, cpu_start = time.perf_counter(), cpu_seconds()
        graphs, fingerprints = naive_loop(smiles)
        naive_s, naive_cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        seconds, cpu = {}, {}
        for workers in (1, jobs):
            start, cpu_start = time.perf_counter(), cpu_seconds()
            featurize(csv, Path(tmp) / f"jobs{workers}", FeaturizeConfig(jobs=workers, progress=False))
            seconds[workers], cpu[workers] = time.perf_counter() - start, cpu_seconds() - cpu_start
        result["identical"] = identical(graphs, fingerprints, Path(tmp) / f"jobs{jobs}")
        result["identical"]["jobs_1_files_equal_jobs_n"] = same_files(Path(tmp) / "jobs1", Path(tmp) / f"jobs{jobs}")
    result.update({"naive_seconds": round(naive_s, 2), "ours_seconds": round(seconds[jobs], 2),
                   "ours_1_job_seconds": round(seconds[1], 2), "naive_mol_per_s": round(n / naive_s, 1),
                   "ours_mol_per_s": round(n / seconds[jobs], 1), "ours_1_job_mol_per_s": round(n / seconds[1], 1),
                   "speedup": round(naive_s / seconds[jobs], 2), "speedup_1_job": round(naive_s / seconds[1], 2),
                   # CPU time does not depend on how busy the machine is: the per-core efficiency gain
                   "naive_cpu_ms_per_mol": round(1000 * naive_cpu / n, 2),
                   "ours_cpu_ms_per_mol": round(1000 * cpu[jobs] / n, 2),
                   "cpu_efficiency_ratio": round(naive_cpu / cpu[jobs], 2),
                   "projected_352299_minutes_on_2_free_cores": round(cpu[jobs] / n * 352299 / 2 / 60, 1),
                   "cpu_parallelism_available_after": cpu_parallelism(jobs), "machine_after": machine()})
    return result


def previous_pubchem():
    """PubChem as computed before its Python part moved to the molecule without H: the same SMARTS
    answers, then scikit-fingerprints' own atom counts and ring counts on ``Chem.AddHs(mol)``."""
    from rdkit import Chem
    from skfp.fingerprints import PubChemFingerprint

    from lgmcl_dgl.featurize.fingerprints import _PubChemBits

    class Previous(_PubChemBits):
        _get_atom_counts = PubChemFingerprint._get_atom_counts

        def _get_pubchem_fingerprint(self, mol):
            return super()._get_pubchem_fingerprint(Chem.AddHs(mol))

    return Previous()


def fingerprints(n: int) -> dict:
    """Previous and current PubChem path on the same molecules, alternating in chunks of 100 so that both
    see the same load; CPU time (time.process_time), which other work on the cores does not inflate."""
    from rdkit import Chem

    from lgmcl_dgl.featurize.fingerprints import pubchem_bits

    mols = [Chem.MolFromSmiles(s) for s in moses_smiles(n)]
    paths = {"previous": previous_pubchem().bits, "current": pubchem_bits}
    cpu, bits = dict.fromkeys(paths, 0.0), {name: [] for name in paths}
    pubchem_bits(mols[0])  # builds the catalogs once, outside the timing
    for start in range(0, n, 100):
        for name, path in paths.items():
            begin = time.process_time()
            bits[name] += [path(m) for m in mols[start:start + 100]]
            cpu[name] += time.process_time() - begin
    return {"n": n, "machine": machine(), "identical": bool(np.array_equal(bits["previous"], bits["current"])),
            **{f"pubchem_{name}_cpu_ms_per_mol": round(1000 * cpu[name] / n, 3) for name in paths},
            "ratio": round(cpu["previous"] / cpu["current"], 2)}


def run_measured(argv: list[str], env: dict) -> tuple[float, dict[str, int]]:
    """Wall seconds and peak memory (bytes) of the process tree: the sum of RSS (counts pages that
    forked workers share once per process, so an upper bound), the sum of PSS (shared pages split
    between the processes sharing them) and the largest single RSS."""
    import psutil

    start, cpu_start = time.perf_counter(), cpu_seconds()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peaks = {"rss_sum": 0, "pss_sum": 0, "rss_largest": 0}
    while process.poll() is None:
        try:
            memory = [p.memory_full_info() for p in [root, *root.children(recursive=True)]]
        except psutil.Error:
            continue
        peaks["rss_sum"] = max(peaks["rss_sum"], sum(m.rss for m in memory))
        peaks["pss_sum"] = max(peaks["pss_sum"], sum(m.pss for m in memory))
        peaks["rss_largest"] = max(peaks["rss_largest"], max(m.rss for m in memory))
        time.sleep(0.2)
    if process.returncode:
        raise SystemExit(f"featurize failed: {process.stderr.read().decode()[-2000:]}")
    peaks["cpu_seconds"] = cpu_seconds() - cpu_start
    return time.perf_counter() - start, peaks


def scaling(sizes: list[int], jobs: int, work_dir: Path, path: Path) -> list[dict]:
    results = json.loads(path.read_text())["scaling"] if path.is_file() else []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for n in sizes:
        csv = write_smiles_csv(moses_smiles(n), work_dir)
        out = work_dir / f"out_{n}"
        before = machine()
        seconds, peaks = run_measured(
            [sys.executable, "-m", "lgmcl_dgl", "featurize", str(csv), "-o", str(out), "--jobs", str(jobs), "--force"], env)
        manifest = json.loads((out / "manifest.json").read_text())
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        row = {"n": n, "jobs": jobs, "seconds": round(seconds, 1), "mol_per_s": round(n / seconds, 1),
               "cpu_ms_per_mol": round(1000 * peaks.pop("cpu_seconds") / n, 2),
               **{f"peak_{name}_mb": round(value / 2**20) for name, value in peaks.items()},
               "n_valid": manifest["counts"]["n_valid"], "disk_mb": round(size / 2**20),
               "machine_before": before, "machine_after": machine()}
        print(json.dumps(row), flush=True)
        results = [r for r in results if r["n"] != n] + [row]
        save(path, {"scaling": sorted(results, key=lambda r: r["n"])})
    return results


def save(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def write_markdown(out: Path) -> None:
    """``out``/featurize.md from whichever JSON results ``out`` holds."""
    lines = ["# featurize benchmark", ""]
    compare_path, scaling_path = out / "featurize_compare.json", out / "featurize_scaling.json"
    fingerprints_path = out / "featurize_fingerprints.json"
    if compare_path.is_file():
        c = json.loads(compare_path.read_text())
        lines += [f"Naive loop vs `featurize` on {c['n']} MOSES molecules, identical output: {c['identical']['all']}; "
                  f"load average {c['machine_before']['load_average'][0]} on {c['machine_before']['cpus']} CPUs, "
                  f"CPU parallelism available to {c['jobs']} processes: {c['cpu_parallelism_available']}.", "",
                  "| | naive | ours, 1 job | ours, %d jobs |" % c["jobs"], "| --- | --- | --- | --- |",
                  f"| molecules/s (wall) | {c['naive_mol_per_s']} | {c['ours_1_job_mol_per_s']} | {c['ours_mol_per_s']} |",
                  f"| speedup (wall) | 1 | {c['speedup_1_job']} | {c['speedup']} |",
                  f"| CPU ms / molecule | {c['naive_cpu_ms_per_mol']} | | {c['ours_cpu_ms_per_mol']} |", ""]
    if scaling_path.is_file():
        lines += ["| N | jobs | seconds | mol/s | CPU ms/mol | peak PSS sum MB | peak RSS sum MB | disk MB | load avg |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in json.loads(scaling_path.read_text())["scaling"]:
            lines.append(f"| {r['n']} | {r['jobs']} | {r['seconds']} | {r['mol_per_s']} | {r.get('cpu_ms_per_mol', '')} | "
                         f"{r['peak_pss_sum_mb']} | {r['peak_rss_sum_mb']} | {r['disk_mb']} | {r['machine_before']['load_average'][0]} |")
    if fingerprints_path.is_file():
        f = json.loads(fingerprints_path.read_text())
        lines += ["", f"PubChem on {f['n']} MOSES molecules, CPU ms / molecule: previous path "
                  f"{f['pubchem_previous_cpu_ms_per_mol']}, current {f['pubchem_current_cpu_ms_per_mol']} "
                  f"({f['ratio']}x less), identical bits: {f['identical']}."]
    (out / "featurize.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["compare", "scaling", "fingerprints"])
    parser.add_argument("--n", type=int, default=None, help="compare (default 4000), fingerprints (3000): molecules")
    parser.add_argument("--sizes", default="25000,100000,352299", help="scaling: comma-separated N")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=None, help="scaling: where inputs and outputs go")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON and Markdown results")
    args = parser.parse_args()
    out = output_dir(args.out)
    if args.part in ("compare", "fingerprints"):
        result = compare(args.n or 4000, args.jobs) if args.part == "compare" else fingerprints(args.n or 3000)
        print(json.dumps(result, indent=2))
        save(out / f"featurize_{args.part}.json", result)
    else:
        work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="lgmcl-featurize-bench-"))
        work_dir.mkdir(parents=True, exist_ok=True)
        scaling([int(s) for s in args.sizes.split(",")], args.jobs, work_dir, out / "featurize_scaling.json")
    write_markdown(out)


if __name__ == "__main__":
    main()
