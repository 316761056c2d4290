"""Global encoder: a Graph Transformer whose attention spans all atom pairs of each molecule.

For attention, atoms of a batched DGLGraph are laid out as a padded (molecules, atoms) tensor, so
it is one batched matmul and never crosses molecules; padding atoms are masked out as keys. The
position-wise parts run on the real atoms only. Structure
enters as an additive bias (Graphormer: a learned scalar per head for each shortest-path distance,
plus a linear map of the bond features on bonded pairs; the distances are computed once per molecule
at featurization, see lgmcl_dgl.featurize.distances) and/or MAT's mix of the attention weights
with the row-normalised adjacency. benchmarks/models.py compares this dense layout with a DGL
sparse-matrix version and dgl.nn.GraphormerLayer on CPU (see docs/models.md).
"""

from __future__ import annotations

import dgl
import numpy as np
import torch
from torch import nn

from lgmcl_dgl.featurize.distances import DISTANCE_FIELD, FAR, hop_distances, pad_rows
from lgmcl_dgl.models.config import GlobalConfig
from lgmcl_dgl.models.local import edge_features
from lgmcl_dgl.models.padding import AtomLayout


def padded_hop_distances(graph: dgl.DGLGraph, layout: AtomLayout) -> torch.Tensor:
    """(B, N, N) uint8 hop counts between the atoms of each molecule, ``FAR`` at padding.

    A collated graph carries them (``ndata["hops"]``, computed at featurization); a graph built
    elsewhere (dgllife's ``mol_to_bigraph``, ``dgl.batch``) gets them by a search per molecule along
    its edges, on the CPU."""
    batch, n = layout.mask.shape
    if DISTANCE_FIELD in graph.ndata:
        rows = graph.ndata[DISTANCE_FIELD]
        if rows.shape[1] != n:
            raise ValueError(f'ndata["{DISTANCE_FIELD}"] is {rows.shape[1]} wide, the widest molecule has {n} atoms')
    else:
        molecule, source, target = (t.cpu().numpy() for t in layout.edges(graph))
        blocks = [hop_distances(count, np.stack([source[molecule == b], target[molecule == b]], 1), directed=True)
                  for b, count in enumerate(graph.batch_num_nodes().tolist())]
        rows = torch.from_numpy(pad_rows(blocks)).to(layout.mask.device)
    hops = rows.new_full((batch, n, n), FAR)
    hops[layout.molecule, layout.position] = rows
    return hops


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
        if not 0 <= config.max_distance < FAR:
            raise ValueError(f"global.max_distance must be in 0..{FAR - 1}, got {config.max_distance}")
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
        padding mask; row-normalised adjacency (B, N, N) for the MAT mix. Shared by all layers.

        The bias is built in one (H, B, N, N) buffer, in place: the distance lookup fills it, the bond
        bias is added on bonded pairs only and the padding mask last, so the only other (B, N, N)
        tensor is the int64 distance index (each (molecule, head) block is contiguous for the layers'
        score additions). The bias stays float32 under autocast, where the bond bias's linear map gives
        half precision."""
        batch, n = layout.mask.shape
        heads = self.config.heads
        index = layout.edges(graph)
        bias = None
        if self.distance_bias is not None:
            distance = padded_hop_distances(graph, layout).clamp_(max=self.config.max_distance + 1).long()
            # index_select along the weight's distance axis: on CPU its backward (index_add) sums in the order
            # embedding's does, and the result is already head-major
            bias = self.distance_bias.weight.t().index_select(1, distance.view(-1)).view(heads, batch, n, n)
            del distance
        if self.bond_bias is not None:
            if bias is None:
                bias = layout.mask.new_zeros(heads, batch, n, n, dtype=torch.float32)
            molecule, source, target = index
            head = torch.arange(heads, device=molecule.device)[None, :]  # (E, H) indices: the values' gradient
            values = self.bond_bias(edge_features(graph, self.edge_feat_dim)).to(bias.dtype)  # stays (E, H); float32
            bias = bias.index_put_((head, molecule[:, None], source[:, None], target[:, None]), values, accumulate=True)
        padding = key_padding_bias(layout.mask)
        bias = padding if bias is None else bias.add_(padding.transpose(0, 1)).transpose(0, 1)
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
