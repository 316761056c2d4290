"""Pieces every benchmark script needs: the MOSES molecules they run on and a record of the machine.

One copy, so that every result file describes its machine and its inputs the same way.
"""

from __future__ import annotations

import gzip
import os
import resource
import sys
from pathlib import Path

from lgmcl_dgl.data.locations import shared_data_dir

HERE = Path(__file__).parent
RESULTS = HERE / "results"
MOSES = ("moses_test.csv.gz", "moses_test_scaffolds.csv.gz")  # one SMILES column each, read in this order


def moses_smiles(n: int) -> list[str]:
    """The first ``n`` MOSES SMILES of the shared test file, then of its scaffold file."""
    smiles: list[str] = []
    for name in MOSES:
        with gzip.open(shared_data_dir() / "pretrain" / name, "rt") as handle:
            next(handle)
            smiles += [line.strip() for _, line in zip(range(n - len(smiles)), handle)]
        if len(smiles) >= n:
            return smiles
    raise SystemExit(f"only {len(smiles)} MOSES SMILES available, asked for {n}")


def write_smiles_csv(smiles: list[str], folder: Path) -> Path:
    """A one-column ``smiles`` CSV named by its size, as the commands take it."""
    path = folder / f"moses_{len(smiles)}.csv"
    path.write_text("smiles\n" + "\n".join(smiles) + "\n")
    return path


def machine(**extra) -> dict:
    """The short machine record stored beside each result: the load says how far to trust wall times."""
    return {"cpus": len(os.sched_getaffinity(0)), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": sys.version.split()[0], **extra}


def cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (pool workers): unlike wall time,
    it does not grow when other work shares the cores."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))

