"""Losses: NT-Xent for contrast (correct under DDP), masked BCE and MSE for multi-task fine-tuning."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


class _GatherWithGradient(torch.autograd.Function):
    """all_gather whose backward returns to each process the summed gradient of its own slice, so
    the loss every process computes against the gathered batch trains every process's encoder."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows = tensor.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


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
    if gather and _distributed():
        all_a, all_b = _GatherWithGradient.apply(a), _GatherWithGradient.apply(b)
        offset = dist.get_rank() * rows
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
