"""What does the applicability domain add to `lgmcl predict`, and which bulk similarity is faster?

Times the AD columns (evaluate/domain.py: Morgan fingerprints of the queries, then each query's
max Tanimoto similarity to every training molecule) for Q MOSES query molecules against T MOSES
training molecules, two ways: RDKit's BulkTanimotoSimilarity (one query at a time, what predict
uses) and a numpy float32 product of unpacked bits over query chunks (bounded memory). Both scale
linearly in Q, so --queries can be a slice of the 4,000 of the predict benchmark; the JSON records
the per-query cost and the 4,000-query extrapolation beside benchmarks/results/predict.md's time.

    PYTHONPATH=. python benchmarks/domain.py --queries 200 --train 100000 --out benchmarks/results/domain_100k
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _common import machine, moses_smiles
from lgmcl_dgl.evaluate import domain

PREDICT_4000_S = 26.7  # benchmarks/results/predict.md: end to end, workers (default), 4003 molecules


def numpy_max_similarity(queries: np.ndarray, train: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The same as domain.max_similarity, by a float32 matrix product of unpacked bits, ``chunk`` queries at a time."""
    train_bits = np.unpackbits(train, axis=1).astype(np.float32)
    train_counts = train_bits.sum(1)
    best, nearest = np.zeros(len(queries), np.float32), np.zeros(len(queries), np.int64)
    for start in range(0, len(queries), chunk):
        bits = np.unpackbits(queries[start:start + chunk], axis=1).astype(np.float32)
        both = bits @ train_bits.T
        similarity = both / np.maximum(bits.sum(1)[:, None] + train_counts[None, :] - both, 1)
        nearest[start:start + chunk] = similarity.argmax(1)
        best[start:start + chunk] = similarity.max(1)
    return best, nearest


def timed(call):
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=4000)
    parser.add_argument("--train", type=int, default=100000)
    parser.add_argument("--out", type=Path, required=True, help="results path without suffix (.json and .md)")
    args = parser.parse_args()
    smiles = moses_smiles(args.train + args.queries)
    train_smiles, query_smiles = smiles[:args.train], smiles[args.train:]

    train_packed, train_fp_s = timed(lambda: domain.morgan_packed(train_smiles))
    vectors, vectors_s = timed(lambda: domain.bit_vectors(train_packed))
    queries, query_fp_s = timed(lambda: domain.morgan_packed(query_smiles))
    (rdkit_best, rdkit_nearest), rdkit_s = timed(lambda: domain.max_similarity(queries, vectors))
    (numpy_best, _), numpy_s = timed(lambda: numpy_max_similarity(queries, train_packed))
    per_query_s = (query_fp_s + rdkit_s) / args.queries
    result = {
        "queries": args.queries, "train": args.train, "machine": machine(),
        "seconds": {"train fingerprints (once per run)": train_fp_s, "train bit vectors (each predict)": vectors_s,
                    "query fingerprints": query_fp_s, "max similarity, RDKit BulkTanimotoSimilarity": rdkit_s,
                    "max similarity, numpy float32 product": numpy_s},
        "largest difference rdkit - numpy": float(np.abs(rdkit_best - numpy_best).max()),
        "ad per predict, 4000 queries (extrapolated), s": vectors_s + 4000 * per_query_s,
        "predict 4000 molecules, s (results/predict.md)": PREDICT_4000_S,
    }
    result["ad added to predict, 4000 queries"] = result["ad per predict, 4000 queries (extrapolated), s"] / PREDICT_4000_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Applicability domain, {args.queries} MOSES queries against {args.train} MOSES training molecules, "
             f"load average {result['machine']['load_average']}; RDKit and numpy agree to "
             f"{result['largest difference rdkit - numpy']:.1e}", "", "| part | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in result["seconds"].items()]
    lines += ["", f"AD for 4,000 queries (extrapolated, linear in queries): "
              f"{result['ad per predict, 4000 queries (extrapolated), s']:.1f} s, "
              f"{100 * result['ad added to predict, 4000 queries']:.0f}% of predict's {PREDICT_4000_S} s."]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
