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
import time
from datetime import datetime, timezone
from pathlib import Path

from lgmcl_dgl.data.locations import shared_data_dir

HERE = Path(__file__).parent
RESULTS = HERE / "results"
MOSES = ("moses_test.csv.gz", "moses_test_scaffolds.csv.gz")  # one SMILES column each, read in this order


def shared_data() -> Path:
    """../shared/data (or $LGMCL_SHARED_DATA): benchmarks run on the full upstream files, not the tests' slices."""
    path = shared_data_dir()
    if path is None:
        raise SystemExit("benchmarks read the full files of ../shared/data, and none were found; set LGMCL_SHARED_DATA "
                         "to the folder holding moleculenet/ and pretrain/")
    return path


def moses_smiles(n: int) -> list[str]:
    """The first ``n`` MOSES SMILES of the shared test file, then of its scaffold file."""
    smiles: list[str] = []
    for name in MOSES:
        with gzip.open(shared_data() / "pretrain" / name, "rt") as handle:
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
    """User + system CPU of this whole process tree: this process, its children that have ended and were
    waited for (pool workers), and those still running (and theirs). Unlike wall time, it does not grow
    when other work shares the cores."""
    import psutil

    ended = sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))
    running = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            running += times.user + times.system
        except psutil.Error:  # ended meanwhile: counted once it is waited for
            pass
    return ended + running


def tree_rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process and all its descendants, MB."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class Measured:
    """Wall seconds, process-tree CPU seconds and sampled peak tree RSS of the code inside ``with``
    (sampled every ``interval`` s: a spike shorter than that can be missed)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval

    def __enter__(self) -> Measured:
        import threading

        self.peak_rss_mb = tree_rss_mb()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_rss_mb = max(self.peak_rss_mb, tree_rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sampler.join()
        self.wall_seconds = time.perf_counter() - self._wall
        self.cpu_seconds = cpu_seconds() - self._cpu
        self.peak_rss_mb = max(self.peak_rss_mb, tree_rss_mb())

    def record(self, molecules: int | None = None) -> dict:
        out = {"wall_seconds": round(self.wall_seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3),
               "peak_rss_mb": round(self.peak_rss_mb, 1)}
        if molecules:
            out.update({"molecules": molecules, "mol_per_s": round(molecules / self.wall_seconds, 2),
                        "cpu_ms_per_mol": round(1000 * self.cpu_seconds / molecules, 3)})
        return out


def run_measured(command: list[str], env: dict | None = None, log: Path | None = None) -> dict:
    """Run ``command`` as a child; its wall seconds, CPU seconds of its whole tree (from wait4: the
    child and every descendant it waited for) and sampled peak tree RSS. Fails on a non-zero exit."""
    import subprocess

    with open(log or os.devnull, "w") as sink:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        peak = 0.0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss_mb(child.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    if child.returncode:
        tail = Path(log).read_text()[-3000:] if log else ""
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({child.returncode}): {tail}")
    return {"wall_seconds": round(wall, 3), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(max(peak, usage.ru_maxrss / 1024), 1)}


def output_dir(path: Path) -> Path:
    """``--out DIR`` of every benchmark script, made if missing."""
    path.mkdir(parents=True, exist_ok=True)
    return path


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
