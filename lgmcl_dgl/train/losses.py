"""Losses: NT-Xent for contrast (correct under DDP), masked BCE and MSE for multi-task fine-tuning."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lgmcl_dgl.train.distributed import all_gather_with_grad, rank, world_size


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1, gather: bool = True) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross-entropy between paired views a[i] <-> b[i].

    Each of the 2B embeddings is an anchor whose positive is its pair and whose negatives are all
    other embeddings of both views (in-batch). With `gather` under torch.distributed, candidates come
    from every process (equal batch sizes required) and anchors stay local: averaging the per-process
    losses (as DDP does with gradients) equals the single-process loss on the whole batch.
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"nt_xent needs two (B, d) tensors of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    rows = a.shape[0]
    if gather and world_size() > 1:
        all_a, all_b = all_gather_with_grad(a), all_gather_with_grad(b)
        offset = rank() * rows
    else:
        all_a, all_b, offset = a, b, 0
    total = all_a.shape[0]
    anchors = torch.cat([a, b])
    logits = anchors @ torch.cat([all_a, all_b]).T / temperature  # (2B, 2 * total)
    own = torch.arange(rows, device=a.device) + offset
    self_index = torch.cat([own, own + total])
    positive_index = torch.cat([own + total, own])
    logits = logits.masked_fill(F.one_hot(self_index, 2 * total).bool(), float("-inf"))
    return F.cross_entropy(logits, positive_index)


PRETRAIN_PAIRS = (("local", "global"), ("smiles", "description"), ("global", "description"))


def pretrain_losses(
    views: dict[str, torch.Tensor], temperature: float = 0.1, pairs: tuple[tuple[str, str], ...] = PRETRAIN_PAIRS
) -> dict[str, torch.Tensor]:
    """The joint objective: NT-Xent per pair of views present in `views` (from LGMCL.pretrain_views):
    graph-graph, text-text and graph-text by default. Keys are "a-b"; sum them for the total."""
    return {f"{a}-{b}": nt_xent(views[a], views[b], temperature) for a, b in pairs if a in views and b in views}


def masked_bce(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy averaged over observed labels only (mask True); missing labels add
    nothing to the loss or its gradient. `pos_weight` (T,) up-weights positives per task."""
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none", pos_weight=pos_weight)
    return _masked_mean(losses, mask)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over observed targets (z-scored by the caller)."""
    return _masked_mean((pred - target) ** 2, mask)


def _masked_mean(losses: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.bool()
    # where() rather than multiply: a NaN or inf at a missing label must not leak into the sum
    return torch.where(mask, losses, torch.zeros_like(losses)).sum() / mask.sum().clamp(min=1)
