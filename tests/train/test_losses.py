"""Losses: NT-Xent against a hand computation and under 2-process gloo DDP; masked BCE / MSE."""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from lgmcl_dgl.train.losses import masked_bce, masked_mse, nt_xent, pretrain_losses


def test_nt_xent_equals_a_hand_computed_value():
    # unit vectors at known angles: a0=(1,0), a1=(0,1), b0=(0.6,0.8), b1=(0.8,-0.6)
    a = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # scaled: the loss normalises
    b = torch.tensor([[0.6, 0.8], [0.8, -0.6]])
    t = 0.5
    z = [(1.0, 0.0), (0.0, 1.0), (0.6, 0.8), (0.8, -0.6)]
    positive = {0: 2, 1: 3, 2: 0, 3: 1}
    expected = 0.0
    for i in range(4):
        sims = {j: (z[i][0] * z[j][0] + z[i][1] * z[j][1]) / t for j in range(4) if j != i}
        expected += -sims[positive[i]] + math.log(sum(math.exp(s) for s in sims.values()))
    expected /= 4
    assert nt_xent(a, b, temperature=t).item() == pytest.approx(expected, rel=1e-6)
    assert nt_xent(b, a, temperature=t).item() == pytest.approx(expected, rel=1e-6)  # symmetric


def test_nt_xent_is_lower_for_matching_pairs():
    torch.manual_seed(0)
    a = torch.randn(8, 4)
    assert nt_xent(a, a + 0.01 * torch.randn(8, 4)) < nt_xent(a, torch.randn(8, 4))


def test_pretrain_losses_cover_the_pairs_present():
    torch.manual_seed(0)
    views = {name: torch.randn(4, 3) for name in ("local", "global", "smiles", "description")}
    losses = pretrain_losses(views, temperature=0.2)
    assert set(losses) == {"local-global", "smiles-description", "global-description"}
    assert losses["local-global"].item() == pytest.approx(nt_xent(views["local"], views["global"], 0.2).item())
    assert set(pretrain_losses({k: views[k] for k in ("local", "global")})) == {"local-global"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, a: torch.Tensor, b: torch.Tensor, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        rows = a.shape[0] // world
        mine_a = a[rank * rows : (rank + 1) * rows].clone().requires_grad_()
        mine_b = b[rank * rows : (rank + 1) * rows].clone().requires_grad_()
        loss = nt_xent(mine_a, mine_b, temperature=0.2)
        loss.backward()
        results[rank] = (loss.detach(), mine_a.grad, mine_b.grad)
    finally:
        dist.destroy_process_group()


def test_nt_xent_gathers_across_two_gloo_processes_like_one_process():
    torch.manual_seed(0)
    a, b = torch.randn(6, 5), torch.randn(6, 5)
    single_a, single_b = a.clone().requires_grad_(), b.clone().requires_grad_()
    single = nt_xent(single_a, single_b, temperature=0.2)
    single.backward()

    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_ddp_worker, args=(2, _free_port(), a, b, results), nprocs=2, join=True)
        results = dict(results)
    losses = torch.stack([results[r][0] for r in range(2)])
    # DDP averages gradients over processes: the mean of the per-process losses is the objective
    torch.testing.assert_close(losses.mean(), single.detach())
    assert not torch.allclose(losses[0], losses[1])  # each process really scored its own anchors
    grad_a = torch.cat([results[r][1] for r in range(2)]) / 2
    grad_b = torch.cat([results[r][2] for r in range(2)]) / 2
    torch.testing.assert_close(grad_a, single_a.grad)
    torch.testing.assert_close(grad_b, single_b.grad)


def test_masked_bce_ignores_missing_labels_exactly():
    logits = torch.tensor([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]], requires_grad=True)
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    mask = torch.tensor([[True, False, True], [True, True, False]])
    loss = masked_bce(logits, labels, mask)
    observed = F.binary_cross_entropy_with_logits(logits[mask], labels[mask])
    assert loss.item() == pytest.approx(observed.item(), rel=1e-6)
    loss.backward()
    assert (logits.grad[~mask] == 0).all() and (logits.grad[mask] != 0).all()
    # whatever sits at the missing positions changes nothing
    other_logits, other_labels = logits.detach().clone(), labels.clone()
    other_logits[~mask], other_labels[~mask] = 50.0, 1.0
    assert masked_bce(other_logits, other_labels, mask).item() == loss.item()


def test_masked_bce_weights_positives_per_task():
    logits = torch.zeros(2, 2)
    labels = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    weighted = masked_bce(logits, labels, mask, pos_weight=torch.tensor([3.0, 1.0]))
    # positives of task 0 count 3x: (3 + 1 + 1 + 1) * log 2 / 4
    assert weighted.item() == pytest.approx(6 * math.log(2) / 4, rel=1e-6)


def test_masked_mse_averages_observed_targets_only():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[0.0, 100.0], [1.0, 4.0]])
    mask = torch.tensor([[True, False], [True, True]])
    assert masked_mse(pred, target, mask).item() == pytest.approx((1 + 4 + 0) / 3)
    assert masked_mse(pred, target, torch.zeros_like(mask)).item() == 0.0
