"""Fusion of the four views (local atoms, global atoms, SMILES tokens, description tokens) and fingerprints.

Pairs are fused first (graph: local x global; text: SMILES x description), then each fused branch
meets the fingerprint network's output (the reference's "dual cross-attention"). Two kinds:

- ``gated`` (the reference): on pooled vectors, sigmoid(q . k / sqrt(d)) gates v, then a projection.
- ``attention``: real multi-head cross-attention: local atoms attend to global atoms, SMILES
  tokens to description tokens, and the fingerprint vector queries each fused sequence.

Missing modalities (ablations) drop their branch; modules for them are never built, so every
parameter of a built model is used.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from lgmcl_dgl.models.config import ModelConfig
from lgmcl_dgl.models.heads import fingerprint_network
from lgmcl_dgl.models.padding import masked_mean


class Tokens(NamedTuple):
    """A padded sequence per molecule: atoms or text tokens."""

    values: torch.Tensor  # (B, L, d)
    mask: torch.Tensor  # (B, L) True at real positions
    summary: torch.Tensor | None = None  # (B, d) the encoder's own readout, when it has one

    def pooled(self) -> torch.Tensor:
        return self.summary if self.summary is not None else masked_mean(self.values, self.mask)

    @classmethod
    def single(cls, vector: torch.Tensor) -> "Tokens":
        return cls(vector[:, None], torch.ones(vector.shape[0], 1, dtype=torch.bool, device=vector.device), vector)


class GatedCrossAttention(nn.Module):
    """The reference's "cross-attention" on pooled vectors: a scalar gate from q . k scales v."""

    def __init__(self, query_dim: int, context_dim: int, dim: int):
        super().__init__()
        self.query = nn.Linear(query_dim, dim)
        self.key = nn.Linear(context_dim, dim)
        self.value = nn.Linear(context_dim, dim)
        self.out = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid((self.query(query) * self.key(context)).sum(-1, keepdim=True) * self.scale)
        return self.out(gate * self.value(context))


class SequenceCrossAttention(nn.Module):
    """Query positions attend to the context's real positions (pre-LN, residual)."""

    def __init__(self, dim: int, heads: int, dropout: float, query_dim: int | None = None):
        super().__init__()
        self.query_in = nn.Linear(query_dim, dim) if query_dim and query_dim != dim else nn.Identity()
        self.query_norm = nn.LayerNorm(dim)
        self.context_norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, query: Tokens, context: Tokens) -> Tokens:
        values = self.query_in(query.values)
        keys = self.context_norm(context.values)
        attended, _ = self.attention(self.query_norm(values), keys, keys, key_padding_mask=~context.mask, need_weights=False)
        return Tokens(values + attended, query.mask)


class MultimodalFusion(nn.Module):
    """Views -> one vector per molecule of width `out_dim` for the task head."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        dim, heads = config.embed_dim, config.head.fusion_heads
        self.kind = config.fusion
        self.branches = [b for b, on in (("graph", config.uses("local") or config.uses("global")), ("text", config.uses("text"))) if on]

        def pair() -> nn.Module:
            if self.kind == "gated":
                return GatedCrossAttention(dim, dim, dim)
            return SequenceCrossAttention(dim, heads, config.head.fusion_dropout)

        self.graph_pair = pair() if config.uses("local") and config.uses("global") else None
        self.text_pair = pair() if config.uses("text") else None
        self.fingerprints = self.fingerprint_cross = self.fingerprint_only = None
        n_out = len(self.branches)
        if config.uses("fingerprints"):
            fp_dim = config.head.fingerprint_hidden[-1]
            self.fingerprints = fingerprint_network(config.fingerprint_dim, config.head.fingerprint_hidden, config.head.fingerprint_dropout)
            if self.kind == "gated":
                cross = {b: GatedCrossAttention(fp_dim, dim, dim) for b in self.branches}
            else:
                cross = {b: SequenceCrossAttention(dim, heads, config.head.fusion_dropout, query_dim=fp_dim) for b in self.branches}
            self.fingerprint_cross = nn.ModuleDict(cross)
            self.fingerprint_only = None if self.branches else nn.Linear(fp_dim, dim)
            n_out = max(n_out, 1)
        self.out_dim = dim * n_out

    def _pair(self, module: nn.Module | None, query: Tokens | None, context: Tokens | None) -> Tokens | None:
        if module is None:
            return query if query is not None else context
        if self.kind == "gated":
            return Tokens.single(module(query.pooled(), context.pooled()))
        return module(query, context)

    def forward(
        self,
        local: Tokens | None = None,
        global_: Tokens | None = None,
        smiles: Tokens | None = None,
        description: Tokens | None = None,
        fingerprints: torch.Tensor | None = None,
    ) -> torch.Tensor:
        fused = {
            "graph": self._pair(self.graph_pair, local, global_),
            "text": self._pair(self.text_pair, smiles, description),
        }
        if self.fingerprints is None:
            return torch.cat([fused[b].pooled() for b in self.branches], dim=-1)
        fp = self.fingerprints(fingerprints)
        if self.fingerprint_only is not None:
            return self.fingerprint_only(fp)
        outputs = []
        for branch in self.branches:
            cross = self.fingerprint_cross[branch]
            if self.kind == "gated":
                outputs.append(cross(fp, fused[branch].pooled()))
            else:
                outputs.append(cross(Tokens.single(fp), fused[branch]).values[:, 0])
        return torch.cat(outputs, dim=-1)
