"""2 gloo processes under torchrun train exactly like 1 process on the same global batch."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lgmcl_dgl.train import distributed
from lgmcl_dgl.train.checkpoint import load_latest
from lgmcl_dgl.train.loop import TrainConfig, train

REPO = Path(__file__).resolve().parents[2]


class TwoViews(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.a = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
        self.b = torch.nn.Linear(6, 8)


def contrastive_step(model, batch):
    """In-batch InfoNCE whose negatives come from every process (the pretraining pattern)."""
    x, noise = batch
    a = F.normalize(model.a(x), dim=1)
    b = F.normalize(model.b(x + noise), dim=1)
    all_b = distributed.all_gather_with_grad(b)
    targets = torch.arange(len(a)) + distributed.rank() * len(a)
    loss = F.cross_entropy(a @ all_b.T / 0.1, targets)
    return {"loss": loss, "loss_align": (a - b).pow(2).sum(1).mean()}


class Sized(list):
    """Items with an atom count each, for size-aware batches."""

    def atom_counts(self):
        return [3 + (11 * i) % 37 for i in range(len(self))]


def data(n: int = 64):
    g = torch.Generator().manual_seed(0)
    return Sized(zip(torch.randn(n, 6, generator=g), 0.3 * torch.randn(n, 6, generator=g)))


def collate(items):
    return torch.stack([x for x, _ in items]), torch.stack([e for _, e in items])


def run(out: Path, max_steps: int = 10, atom_budget: int = 0, n: int = 64) -> TwoViews:
    distributed.init_distributed("cpu")
    model = TwoViews()
    train(model, data(n), collate, contrastive_step, out,
          TrainConfig(epochs=3, max_steps=max_steps, batch_size=16, lr=5e-2, log_every=1, checkpoint_every=4,
                      seed=3, device="cpu", progress=False, atom_budget=atom_budget))
    return model


def losses(out: Path) -> list[float]:
    with open(out / "train_log.csv", newline="") as handle:
        return [float(r["loss"]) for r in csv.DictReader(handle)]


def test_two_gloo_processes_match_one_process(tmp_path):
    single = run(tmp_path / "one")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    __file__, str(tmp_path / "two")], env=env, cwd=REPO, check=True, timeout=120)
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 10
    assert one[-1] < one[0]  # it learns
    assert two == pytest.approx(one, rel=1e-4, abs=1e-5)
    # rank 0 alone wrote; the saved weights match the single-process model
    merged = TwoViews()
    load_latest(tmp_path / "two" / "checkpoints").restore(merged)
    for a, b in zip(single.parameters(), merged.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    assert not list((tmp_path / "two").glob("*rank*"))


def test_two_gloo_processes_train_on_size_aware_batches(tmp_path):
    """Every size-aware batch splits into equal shares (the gathered contrastive loss needs them), also
    for an odd number of molecules."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    __file__, str(tmp_path / "two"), "200", "63"], env=env, cwd=REPO, check=True, timeout=300)
    two = losses(tmp_path / "two")
    assert len(two) == 10 and all(value == value for value in two)


def test_single_process_helpers_are_no_ops():
    t = torch.arange(4.0, requires_grad=True)
    assert distributed.all_gather_with_grad(t) is t
    assert distributed.world_size() == 1 and distributed.is_main()
    assert distributed.broadcast_object({"x": 1}) == {"x": 1}
    assert distributed.resolve_device("cpu") == torch.device("cpu")


if __name__ == "__main__":  # torchrun entry: OUT [ATOM_BUDGET MOLECULES]
    budget, n = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 2 else (0, 64)
    run(Path(sys.argv[1]), atom_budget=budget, n=n)
    distributed.cleanup()
