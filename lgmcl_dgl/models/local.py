"""Local encoder: dgllife's AttentiveFP message passing over bonds, then a molecule readout."""

from __future__ import annotations

import dgl
import torch
from dgllife.model.gnn import AttentiveFPGNN
from dgllife.model.readout import AttentiveFPReadout
from torch import nn

from lgmcl_dgl.models.config import LocalConfig


def edge_features(graph: dgl.DGLGraph, edge_feat_dim: int) -> torch.Tensor:
    """``edata["e"]``; graphs without bonds may lack the key (dgllife's featurizers add none)."""
    if "e" in graph.edata:
        return graph.edata["e"]
    if graph.num_edges():
        raise KeyError('graph has edges but no edata["e"] bond features')
    return graph.ndata["h"].new_zeros(0, edge_feat_dim)


class LocalEncoder(nn.Module):
    """Atom states from bonded neighbourhoods (AttentiveFP), pooled per molecule."""

    def __init__(self, config: LocalConfig, node_feat_dim: int, edge_feat_dim: int, out_dim: int):
        super().__init__()
        self.edge_feat_dim = edge_feat_dim
        self.gnn = AttentiveFPGNN(node_feat_dim, edge_feat_dim, config.layers, config.hidden, config.dropout)
        self.readout = (
            AttentiveFPReadout(config.hidden, config.readout_steps, config.dropout)
            if config.readout == "attentivefp"
            else dgl.nn.AvgPooling()
        )
        self.out = nn.Linear(config.hidden, out_dim)

    def forward(self, graph: dgl.DGLGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (atom states (V, out_dim), molecule vectors (B, out_dim))."""
        atoms = self.gnn(graph, graph.ndata["h"], edge_features(graph, self.edge_feat_dim))
        return self.out(atoms), self.out(self.readout(graph, atoms))
