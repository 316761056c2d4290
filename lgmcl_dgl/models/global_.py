"""Global encoder: a Graph Transformer whose attention spans all atom pairs of each molecule.

For attention, atoms of a batched DGLGraph are laid out as a padded (molecules, atoms) tensor, so
it is one batched matmul and never crosses molecules; padding atoms are masked out as keys. The
position-wise parts run on the real atoms only. Structure
enters as an additive bias (Graphormer: a learned scalar per head for each shortest-path distance,
plus a linear map of the bond features on bonded pairs) and/or MAT's mix of the attention weights
with the row-normalised adjacency. benchmarks/models.py compares this dense layout with a DGL
sparse-matrix version and dgl.nn.GraphormerLayer on CPU (see docs/models.md).
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from lgmcl_dgl.models.config import GlobalConfig
from lgmcl_dgl.models.local import edge_features
from lgmcl_dgl.models.padding import AtomLayout


def shortest_path_distances(edges: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch: int, n: int,
                            max_distance: int) -> torch.Tensor:
    """Hop counts (B, N, N); pairs farther than ``max_distance`` or in different fragments get
    ``max_distance + 1``. ``edges``: (molecule, source position, target position) in the padded layout.

    A pair's distance is ``max_distance + 1`` less the number of k in 0..max_distance for which it is
    within k hops, so each hop costs one batched matmul and two passes over (B, N, N); marking each
    hop's new pairs as well cost about three times more on CPU (benchmarks/models.py times both).
    """
    molecule, source, target = edges
    eye = torch.eye(n, device=molecule.device)
    step = eye.repeat(batch, 1, 1)
    step[molecule, source, target] = 1.0  # one hop, or staying put
    reached = eye.expand(batch, n, n)  # within 0 hops
    within = reached.clone()  # per pair, for how many k so far it was within k hops
    for hops in range(1, max_distance + 1):
        grown = torch.bmm(reached, step).clamp_(max=1.0).float()  # float: autocast may run bmm in half precision
        if torch.equal(grown, reached):  # nothing new: it stays so for the remaining hops
            within.add_(grown, alpha=max_distance + 1 - hops)
            break
        within.add_(grown)
        reached = grown
    return (max_distance + 1 - within).long()


class GraphTransformerLayer(nn.Module):
    """Pre-LN block: biased multi-head self-attention within each molecule, then a feed-forward net."""

    def __init__(self, config: GlobalConfig):
        super().__init__()
        self.heads = config.heads
        self.head_dim = config.d_model // config.heads
        self.lambda_att = config.lambda_att
        self.lambda_adj = config.lambda_adj
        self.attn_norm = nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.attn_out = nn.Linear(config.d_model, config.d_model)
        self.attn_dropout = nn.Dropout(config.attn_dropout)
        self.ffn_norm = nn.LayerNorm(config.d_model)
        self.ffn = nn.Sequential(
            nn.Linear(config.d_model, config.ffn_dim),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.ffn_dim, config.d_model),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, atoms: torch.Tensor, layout: AtomLayout, bias: torch.Tensor, adjacency: torch.Tensor | None = None
    ) -> torch.Tensor:
        """atoms (V, d), the real atoms only: the position-wise parts (norms, projections, feed-forward)
        skip padding, only the attention itself runs on the padded (B, N) layout. bias is additive to
        the scores, (B, H or 1, N or 1, N) with -inf at padding keys (see `key_padding_bias`);
        adjacency (B, N, N) row-normalised, used when lambda_adj != 0."""
        batch, n = layout.mask.shape
        width = atoms.shape[-1]
        qkv = layout.pad(self.qkv(self.attn_norm(atoms)))
        q, k, v = qkv.view(batch, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = (q * self.head_dim**-0.5) @ k.transpose(-1, -2)
        weights = torch.softmax(scores.add_(bias), dim=-1)  # in place: matmul's backward does not need its output
        if self.lambda_att != 1.0:
            weights = self.lambda_att * weights
        if self.lambda_adj and adjacency is not None:
            weights = weights + self.lambda_adj * adjacency[:, None]
        mixed = layout.unpad((self.attn_dropout(weights) @ v).transpose(1, 2).reshape(batch, n, width))
        atoms = atoms + self.dropout(self.attn_out(mixed))
        return atoms + self.dropout(self.ffn(self.ffn_norm(atoms)))


def key_padding_bias(mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, N): 0 at real atoms, -inf at padding, so no atom attends to padding."""
    return torch.zeros(mask.shape, device=mask.device).masked_fill(~mask, float("-inf"))[:, None, None, :]


class GlobalEncoder(nn.Module):
    """Atom features -> Graph Transformer over whole molecules -> atom states and molecule means."""

    def __init__(self, config: GlobalConfig, node_feat_dim: int, edge_feat_dim: int, out_dim: int):
        super().__init__()
        self.config = config
        self.edge_feat_dim = edge_feat_dim
        self.embed = nn.Linear(node_feat_dim, config.d_model)
        self.distance_bias = nn.Embedding(config.max_distance + 2, config.heads) if config.spd_bias else None
        self.bond_bias = nn.Linear(edge_feat_dim, config.heads) if config.bond_bias else None
        self.layers = nn.ModuleList(GraphTransformerLayer(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.out = nn.Linear(config.d_model, out_dim)

    def structure(self, graph: dgl.DGLGraph, layout: AtomLayout) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention bias (B, H, N, N), or (B, 1, 1, N) without structure biases, including the
        padding mask; row-normalised adjacency (B, N, N) for the MAT mix. Shared by all layers."""
        batch, n = layout.mask.shape
        index = layout.edges(graph)
        bias = None
        if self.distance_bias is not None:
            with torch.no_grad():
                distance = shortest_path_distances(index, batch, n, self.config.max_distance)
            # the embedding lookup by index_select: on CPU its backward (index_add) takes half the time of
            # embedding's and sums in the same order, so the gradients are identical
            bias = self.distance_bias.weight.index_select(0, distance.view(-1)).view(*distance.shape, -1)
        if self.bond_bias is not None:
            bonds = layout.mask.new_zeros(batch, n, n, self.config.heads, dtype=torch.float32)
            bonds = bonds.index_put(index, self.bond_bias(edge_features(graph, self.edge_feat_dim)), accumulate=True)
            bias = bonds if bias is None else bias + bonds
        padding = key_padding_bias(layout.mask)
        bias = padding if bias is None else bias.permute(0, 3, 1, 2) + padding
        normalised = None
        if self.config.lambda_adj:
            adjacency = layout.mask.new_zeros(batch, n, n, dtype=torch.float32)
            adjacency[index] = 1.0
            normalised = adjacency / adjacency.sum(-1, keepdim=True).clamp(min=1.0)
        return bias, normalised

    def forward(self, graph: dgl.DGLGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (atom states (V, out_dim), molecule vectors (B, out_dim))."""
        layout = AtomLayout.of(graph)
        atoms = self.embed(graph.ndata["h"])
        bias, adjacency = self.structure(graph, layout)
        for layer in self.layers:
            atoms = layer(atoms, layout, bias, adjacency)
        atoms = self.out(self.norm(atoms))
        return atoms, dgl.ops.segment_reduce(graph.batch_num_nodes(), atoms, "mean")
