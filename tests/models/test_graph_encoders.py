"""Local (AttentiveFP) and global (Graph Transformer) encoders on real featurized molecules."""

from __future__ import annotations

import dgl
import numpy as np
import pytest
import torch
from model_inputs import SMILES, batch_of, graph_of, tiny_config
from rdkit import Chem

from lgmcl_dgl.models.global_ import GlobalEncoder, GraphTransformerLayer, key_padding_bias, padded_hop_distances
from lgmcl_dgl.models.lgmcl import LGMCL
from lgmcl_dgl.models.padding import AtomLayout

CONFIGS = {
    "mean+spd+bond+adj": {},
    "attentivefp readout, no biases": {"local": {"hidden": 16, "readout": "attentivefp"}, "global": {"d_model": 16, "heads": 2, "ffn_dim": 32, "spd_bias": False, "bond_bias": False}},
}


def encode(model: LGMCL, graph: dgl.DGLGraph) -> torch.Tensor:
    with torch.no_grad():
        local, global_ = model.encode_graph(graph)
    return torch.cat([local, global_], dim=-1)


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_atom_order_does_not_change_the_embedding(overrides):
    torch.manual_seed(0)
    model = LGMCL(tiny_config(**overrides)).eval()
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    permutation = np.random.default_rng(0).permutation(mol.GetNumAtoms()).tolist()
    shuffled = Chem.RenumberAtoms(mol, permutation)
    original, permuted = encode(model, graph_of(mol)), encode(model, graph_of(shuffled))
    assert not torch.equal(graph_of(mol).ndata["h"], graph_of(shuffled).ndata["h"])  # the order really changed
    torch.testing.assert_close(original, permuted, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_a_molecule_does_not_depend_on_its_batch(overrides):
    torch.manual_seed(0)
    model = LGMCL(tiny_config(**overrides)).eval()
    together = encode(model, batch_of(SMILES))
    alone = torch.cat([encode(model, batch_of([s])) for s in SMILES])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    # and the other molecules' content is not mixed in: different molecules, different vectors
    assert torch.cdist(together, together).fill_diagonal_(1.0).min() > 1e-3


def test_single_atom_and_bondless_molecules_get_finite_embeddings():
    torch.manual_seed(0)
    model = LGMCL(tiny_config()).train()
    embeddings = encode(model, batch_of(["C", "[Na+].[Cl-]", "O"]))
    assert embeddings.shape == (3, 32) and torch.isfinite(embeddings).all()


def test_layer_matches_dgl_graphormer_layer():
    """Same weights, pre-LN, GELU, no structure mix: our layer computes dgl.nn.GraphormerLayer."""
    torch.manual_seed(0)
    config = tiny_config(**{"global": {"d_model": 16, "heads": 2, "ffn_dim": 32, "lambda_adj": 0.0}}).global_
    ours = GraphTransformerLayer(config).eval()
    theirs = dgl.nn.GraphormerLayer(16, 32, 2, norm_first=True, dropout=0.0, attn_dropout=0.0, activation=torch.nn.GELU()).eval()
    with torch.no_grad():
        attn = theirs.attn
        ours.qkv.weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]))
        ours.qkv.bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        ours.attn_out.load_state_dict(attn.out_proj.state_dict())
        ours.attn_norm.load_state_dict(theirs.attn_layer_norm.state_dict())
        ours.ffn_norm.load_state_dict(theirs.ffn_layer_norm.state_dict())
        ours.ffn[0].load_state_dict(theirs.ffn[0].state_dict())
        ours.ffn[3].load_state_dict(theirs.ffn[3].state_dict())
    atoms = torch.randn(3, 5, 16)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    bias = torch.randn(3, 5, 5, 2)
    with torch.no_grad():
        expected = theirs(atoms, bias, attn_mask=~mask[:, None, :].expand(3, 5, 5))
        layout = AtomLayout.from_mask(mask)
        got = ours(atoms[mask], layout, bias.permute(0, 3, 1, 2) + key_padding_bias(mask))
    assert got.shape == (int(mask.sum()), 16) and expected.shape == (3, 5, 16)
    torch.testing.assert_close(got, expected[mask], rtol=1e-5, atol=1e-5)


def test_structure_bias_changes_attention():
    """Two molecules with the same atom multiset but different bonds differ only through structure."""
    torch.manual_seed(0)
    encoder = GlobalEncoder(tiny_config().global_, 39, 10, 16).eval()
    with torch.no_grad():
        _, chain = encoder(batch_of(["CCCCCC"]))
        _, ring = encoder(batch_of(["C1CCCCC1"]))
    assert (chain - ring).abs().max() > 1e-4


def test_distance_bias_lookup_gives_embeddings_values_and_gradients():
    """structure() looks the distance bias up by index_select, head-major, for speed and memory; it must equal
    nn.Embedding of the capped distances exactly."""
    torch.manual_seed(0)
    encoder = LGMCL(tiny_config(**{"global": {"bond_bias": False}})).global_
    graph = batch_of(SMILES)
    layout = AtomLayout.of(graph)
    distance = padded_hop_distances(graph, layout).long().clamp(max=encoder.config.max_distance + 1)
    bias, _ = encoder.structure(graph, layout)
    expected = torch.nn.functional.embedding(distance, encoder.distance_bias.weight).permute(0, 3, 1, 2)
    real = layout.mask[:, None, None, :].expand_as(bias)
    assert torch.equal(bias[real], expected.expand_as(bias)[real])
    grad = torch.randn_like(bias).masked_fill(~real, 0)
    (ours,) = torch.autograd.grad(bias, encoder.distance_bias.weight, grad)
    (theirs,) = torch.autograd.grad(expected.expand_as(bias), encoder.distance_bias.weight, grad)
    assert torch.equal(ours, theirs) and ours.abs().sum() > 0
