"""Pieces every benchmark script needs: the MOSES molecules they run on and a record of the machine.

One copy, so that every result file describes its machine and its inputs the same way.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import platform
import resource
import sys
from datetime import datetime, timezone
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


def machine_description() -> dict:
    """The full record for a summary report: CPU model, cores, memory, GPU, library versions, date, load."""
    import dgl
    import rdkit
    import torch

    import lgmcl_dgl

    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu_model": cpu_model(),
            "cores_usable": len(os.sched_getaffinity(0)), "cores_total": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
            "python": sys.version.split()[0], "torch": torch.__version__, "dgl": dgl.__version__,
            "rdkit": rdkit.__version__, "lgmcl_dgl": lgmcl_dgl.__version__, "torch_threads": torch.get_num_threads()}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)  # the file counts kB
    except OSError:
        pass
    return None


def cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (pool workers): unlike wall time,
    it does not grow when other work shares the cores."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def load_script(name: str):
    """Another benchmark script as a module, loaded by path under a private name: a plain ``import
    featurize`` could find another module of that name first (the test suite has a ``featurize`` package)."""
    module_name = f"_lgmcl_benchmark_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]
