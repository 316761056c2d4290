"""Small MLPs around the encoders: the fingerprint network, contrast projections, the task head."""

from __future__ import annotations

from torch import nn


def mlp(sizes: list[int], dropout: float, final_activation: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU + dropout between them."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2 or final_activation:
            layers += [nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


def fingerprint_network(in_dim: int, hidden: list[int], dropout: float) -> nn.Sequential:
    """The reference's MLP over MACCS | PubChem | ErG (1489 -> 512 -> 300), ending in a ReLU."""
    return mlp([in_dim, *hidden], dropout, final_activation=True)


def projection_head(dim: int) -> nn.Sequential:
    """SimCLR-style projection: the contrastive loss acts on its output, the encoders keep richer features."""
    return mlp([dim, dim, dim], dropout=0.0)


def task_head(in_dim: int, hidden: int, n_tasks: int, dropout: float) -> nn.Sequential:
    """Fused features -> one logit (classification) or z-scored value (regression) per task."""
    return mlp([in_dim, hidden, n_tasks], dropout)
