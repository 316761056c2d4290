"""How fast is `lgmcl featurize`, is its output identical to a naive loop's, and does memory stay flat?

compare: the same molecules through (a) a naive single-process loop (dgllife smiles_to_bigraph +
RDKit MACCS + scikit-fingerprints PubChem on the molecule with explicit H + RDKit ErG, one
molecule at a time, as the reference does per batch) and (b) `featurize` with --jobs workers;
checks every graph, feature and fingerprint is equal and prints molecules/s and the ratio.
scaling: `lgmcl featurize` as a subprocess on the first N SMILES of both MOSES files, with wall
time and the peak resident memory of the whole process tree (sampled every 0.2 s).

    PYTHONPATH=. python benchmarks/featurize.py compare --n 2000
    PYTHONPATH=. python benchmarks/featurize.py scaling --sizes 25000,100000,352299
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lgmcl_dgl.data.locations import shared_data_dir

RESULTS = Path(__file__).parent / "results"
MOSES = ("moses_test.csv.gz", "moses_test_scaffolds.csv.gz")


def moses_smiles(n: int) -> list[str]:
    smiles: list[str] = []
    for name in MOSES:
        with gzip.open(shared_data_dir() / "pretrain" / name, "rt") as handle:
            next(handle)
            smiles += [line.strip() for line in handle]
        if len(smiles) >= n:
            break
    if len(smiles) < n:
        raise SystemExit(f"only {len(smiles)} MOSES SMILES available, asked for {n}")
    return smiles[:n]


def write_csv(smiles: list[str], folder: Path) -> Path:
    path = folder / f"moses_{len(smiles)}.csv"
    path.write_text("smiles\n" + "\n".join(smiles) + "\n")
    return path


def machine() -> dict:
    return {"cpus": len(os.sched_getaffinity(0)), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": sys.version.split()[0]}


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


def compare(n: int, jobs: int) -> dict:
    from lgmcl_dgl.featurize import FeaturizeConfig, featurize

    smiles = moses_smiles(n)
    result = {"n": n, "jobs": jobs, "machine_before": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_csv(smiles, Path(tmp))
        start = time.perf_counter()
        graphs, fingerprints = naive_loop(smiles)
        naive_s = time.perf_counter() - start
        start = time.perf_counter()
        out = featurize(csv, Path(tmp) / "out", FeaturizeConfig(jobs=jobs, progress=False))
        ours_s = time.perf_counter() - start
        result["identical"] = identical(graphs, fingerprints, out)
    result.update({"naive_seconds": round(naive_s, 2), "ours_seconds": round(ours_s, 2),
                   "naive_mol_per_s": round(n / naive_s, 1), "ours_mol_per_s": round(n / ours_s, 1),
                   "speedup": round(naive_s / ours_s, 2), "machine_after": machine()})
    return result


def run_measured(argv: list[str], env: dict) -> tuple[float, int, int]:
    """Wall seconds, peak RSS of the process tree and of its largest process (bytes)."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peak_tree = peak_one = 0
    while process.poll() is None:
        try:
            rss = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
        except psutil.Error:
            rss = [0]
        peak_tree, peak_one = max(peak_tree, sum(rss)), max(peak_one, max(rss))
        time.sleep(0.2)
    if process.returncode:
        raise SystemExit(f"featurize failed: {process.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - start, peak_tree, peak_one


def scaling(sizes: list[int], jobs: int, work_dir: Path, path: Path) -> list[dict]:
    results = json.loads(path.read_text())["scaling"] if path.is_file() else []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for n in sizes:
        csv = write_csv(moses_smiles(n), work_dir)
        out = work_dir / f"out_{n}"
        before = machine()
        seconds, peak_tree, peak_one = run_measured(
            [sys.executable, "-m", "lgmcl_dgl", "featurize", str(csv), "-o", str(out), "--jobs", str(jobs), "--force"], env)
        manifest = json.loads((out / "manifest.json").read_text())
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        row = {"n": n, "jobs": jobs, "seconds": round(seconds, 1), "mol_per_s": round(n / seconds, 1),
               "peak_rss_tree_mb": round(peak_tree / 2**20), "peak_rss_largest_process_mb": round(peak_one / 2**20),
               "n_valid": manifest["counts"]["n_valid"], "disk_mb": round(size / 2**20),
               "machine_before": before, "machine_after": machine()}
        print(json.dumps(row), flush=True)
        results = [r for r in results if r["n"] != n] + [row]
        save(path, {"scaling": sorted(results, key=lambda r: r["n"])})
    return results


def save(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["compare", "scaling"])
    parser.add_argument("--n", type=int, default=2000, help="compare: molecules")
    parser.add_argument("--sizes", default="25000,100000,352299", help="scaling: comma-separated N")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=None, help="scaling: where inputs and outputs go")
    args = parser.parse_args()
    if args.part == "compare":
        result = compare(args.n, args.jobs)
        print(json.dumps(result, indent=2))
        save(RESULTS / "featurize_compare.json", result)
    else:
        work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="lgmcl-featurize-bench-"))
        work_dir.mkdir(parents=True, exist_ok=True)
        scaling([int(s) for s in args.sizes.split(",")], args.jobs, work_dir, RESULTS / "featurize_scaling.json")


if __name__ == "__main__":
    main()
