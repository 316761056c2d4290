"""The global encoder's structure biases from distances computed once per molecule equal, bit for bit,
those of the batched matmul search that ran at every step before (kept here as the reference)."""

from __future__ import annotations

import gzip

import dgl
import numpy as np
import pandas as pd
import pytest
import torch
from model_inputs import batch_of, tiny_config
from rdkit import Chem

from lgmcl_dgl.featurize import FeaturizeConfig, MoleculeRecord, collate, featurize_smiles
from lgmcl_dgl.featurize.distances import DISTANCE_FIELD, FAR, hop_distances
from lgmcl_dgl.models.global_ import GlobalEncoder, key_padding_bias
from lgmcl_dgl.models.local import edge_features
from lgmcl_dgl.models.padding import AtomLayout

FRAGMENTS_AND_SINGLE_ATOMS = ["C", "[Na+].[Cl-]", "O", "CCCCCCCCCCCCC(=O)O.CCO", "[Cl-].[NH4+].c1ccc2ccccc2c1",
                              "[K+].[K+].[O-]S(=O)(=O)[O-]", "CC(=O)Nc1ccc(O)cc1"]
CHAIN_300 = "C" * 300  # 299 hops end to end: past uint8, stored as FAR


def reference_shortest_path_distances(edges, batch: int, n: int, max_distance: int) -> torch.Tensor:
    """The encoder's search before distances were stored: one batched (B, N, N) matmul per hop."""
    molecule, source, target = edges
    eye = torch.eye(n)
    step = eye.repeat(batch, 1, 1)
    step[molecule, source, target] = 1.0
    reached = eye.expand(batch, n, n)
    within = reached.clone()
    for hops in range(1, max_distance + 1):
        grown = torch.bmm(reached, step).clamp_(max=1.0).float()
        if torch.equal(grown, reached):
            within.add_(grown, alpha=max_distance + 1 - hops)
            break
        within.add_(grown)
        reached = grown
    return (max_distance + 1 - within).long()


def reference_structure(encoder: GlobalEncoder, graph: dgl.DGLGraph, layout: AtomLayout
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``GlobalEncoder.structure`` before: (B, N, N, H) lookups and bond biases, then permuted; adjacency."""
    batch, n = layout.mask.shape
    index = layout.edges(graph)
    bias = None
    if encoder.distance_bias is not None:
        with torch.no_grad():
            distance = reference_shortest_path_distances(index, batch, n, encoder.config.max_distance)
        bias = encoder.distance_bias.weight.index_select(0, distance.view(-1)).view(*distance.shape, -1)
    if encoder.bond_bias is not None:
        bonds = layout.mask.new_zeros(batch, n, n, encoder.config.heads, dtype=torch.float32)
        bonds = bonds.index_put(index, encoder.bond_bias(edge_features(graph, encoder.edge_feat_dim)), accumulate=True)
        bias = bonds if bias is None else bias + bonds
    padding = key_padding_bias(layout.mask)
    bias = padding if bias is None else bias.permute(0, 3, 1, 2) + padding
    normalised = None
    if encoder.config.lambda_adj:
        adjacency = layout.mask.new_zeros(batch, n, n, dtype=torch.float32)
        adjacency[index] = 1.0
        normalised = adjacency / adjacency.sum(-1, keepdim=True).clamp(min=1.0)
    return bias, normalised


def largest_smiles(path, column: str, count: int) -> list[str]:
    with gzip.open(path, "rt") as handle:
        smiles = pd.read_csv(handle)[column].dropna().tolist()
    sizes = [(m.GetNumAtoms() if (m := Chem.MolFromSmiles(s)) is not None else 0) for s in smiles]
    return [smiles[i] for i in np.argsort(sizes, kind="stable")[::-1][:count]]


@pytest.fixture(scope="module")
def groups(moleculenet) -> dict[str, list[str]]:
    """Real molecules: BBBP's first rows, the largest of ToxCast and ClinTox, salts, single atoms, a long chain."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    large = (largest_smiles(moleculenet / "toxcast_data.csv.gz", "smiles", 6)
             + largest_smiles(moleculenet / "clintox.csv.gz", "smiles", 6))
    return {"bbbp": pd.read_csv(moleculenet / "BBBP.csv")["smiles"].tolist()[:48], "largest toxcast+clintox": large,
            "fragments and single atoms": FRAGMENTS_AND_SINGLE_ATOMS, "300-atom chain + salt": [CHAIN_300, "[Na+].[Cl-]"]}


@pytest.fixture(scope="module")
def batches(groups) -> dict[str, list[MoleculeRecord]]:
    config = FeaturizeConfig(fingerprints=("maccs",), progress=False)
    return {name: [r for r in featurize_smiles(smiles, config) if isinstance(r, MoleculeRecord)]
            for name, smiles in groups.items()}


def test_stored_distances_are_rdkit_topological_distances(groups, batches):
    for name, records in batches.items():
        assert len(records) > 0.9 * len(groups[name])
        for record in records:
            mol = Chem.MolFromSmiles(groups[name][record.row])
            mol = Chem.RenumberAtoms(mol, list(Chem.CanonicalRankAtoms(mol)))  # featurize's atom order
            expected = np.minimum(Chem.GetDistanceMatrix(mol), FAR)  # RDKit: 1e8 between fragments
            assert record.distances.dtype == np.uint8
            np.testing.assert_array_equal(record.distances, expected.astype(np.uint8), err_msg=record.smiles)


def outputs_and_gradients(encoder: GlobalEncoder, graph: dgl.DGLGraph) -> list[torch.Tensor | None]:
    """The encoder's atom states and molecule vectors in training mode (dropout on, seeded), and the
    gradients of their sum for every parameter."""
    torch.manual_seed(1)
    atoms, molecules = encoder(graph)
    grads = torch.autograd.grad(atoms.sum() + molecules.sum(), list(encoder.parameters()), allow_unused=True)
    return [atoms, molecules, *grads]


@pytest.mark.parametrize("max_distance", [0, 1, 3, 8, 20, 254])
@pytest.mark.parametrize("biases", ["spd+bond", "spd", "bond"])
def test_biases_outputs_and_gradients_equal_the_batched_search_bit_for_bit(batches, max_distance, biases, monkeypatch):
    torch.manual_seed(0)
    global_config = {"max_distance": max_distance, "spd_bias": "spd" in biases, "bond_bias": "bond" in biases}
    encoder = GlobalEncoder(tiny_config(**{"global": global_config}).global_, 39, 10, 16).train()
    with torch.no_grad():  # trained-looking weights: every distance bucket and bond bias differs
        for parameter in encoder.parameters():
            parameter.normal_()
    for name, records in batches.items():
        stored = collate(records)
        recomputed = collate([MoleculeRecord(**{**vars(r), "distances": None}) for r in records])  # older shards
        assert torch.equal(stored.graph.ndata[DISTANCE_FIELD], recomputed.graph.ndata[DISTANCE_FIELD]), name
        bare = stored.graph.clone()
        bare.ndata.pop(DISTANCE_FIELD)  # a graph built elsewhere: the encoder searches per molecule
        layout = AtomLayout.of(stored.graph)
        expected_bias, expected_adjacency = reference_structure(encoder, stored.graph, layout)
        with monkeypatch.context() as patch:
            patch.setattr(GlobalEncoder, "structure", reference_structure)
            expected = outputs_and_gradients(encoder, stored.graph)
        for graph in (stored.graph, recomputed.graph, bare):
            bias, adjacency = encoder.structure(graph, layout)
            assert torch.equal(bias, expected_bias) and torch.equal(adjacency, expected_adjacency), (name, max_distance)
            got = outputs_and_gradients(encoder, graph)
            assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(got, expected)), name


def test_encoder_outputs_on_dgllife_graphs_need_no_stored_distances(batches):
    """Graphs from dgllife (no ndata["hops"]) and from collate give the same global embeddings."""
    torch.manual_seed(0)
    encoder = GlobalEncoder(tiny_config().global_, 39, 10, 16).eval()
    smiles = FRAGMENTS_AND_SINGLE_ATOMS
    records = [r for r in featurize_smiles(smiles, FeaturizeConfig(fingerprints=("maccs",), progress=False))]
    with torch.no_grad():
        ours = encoder(collate(records).graph)[1]
        dgllife = encoder(batch_of([r.smiles for r in records]))[1]  # same canonical SMILES, dgllife's atom order
    torch.testing.assert_close(ours, dgllife, rtol=1e-5, atol=1e-5)


def test_the_bias_is_float32_under_autocast(batches):
    """Mixed precision (the training loop's --amp, on CUDA) runs the bond bias's linear map in half
    precision; the bias stays float32, the bond values rounded once."""
    torch.manual_seed(0)
    encoder = GlobalEncoder(tiny_config().global_, 39, 10, 16).eval()
    graph = collate(batches["fragments and single atoms"]).graph
    layout = AtomLayout.of(graph)
    with torch.no_grad():
        full, _ = encoder.structure(graph, layout)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed, _ = encoder.structure(graph, layout)
    assert mixed.dtype == torch.float32 and torch.equal(torch.isinf(mixed), torch.isinf(full))
    real = ~torch.isinf(full)
    torch.testing.assert_close(mixed[real], full[real], rtol=0.01, atol=0.01)


def test_hop_distances_saturate_and_separate_fragments():
    chain = hop_distances(300, np.stack([np.arange(299), np.arange(1, 300)], 1))
    assert chain[0, 254] == 254 and chain[0, 255] == FAR and chain[0, 299] == FAR and chain[5, 5] == 0
    two = hop_distances(3, np.array([[0, 1]]))
    assert two.tolist() == [[0, 1, FAR], [1, 0, FAR], [FAR, FAR, 0]]
    assert hop_distances(0, np.zeros((0, 2))).shape == (0, 0)
    one_way = hop_distances(3, np.array([[0, 1], [1, 2]]), directed=True)
    assert one_way[0, 2] == 2 and one_way[2, 0] == FAR


def test_max_distance_must_fit_the_stored_distances():
    with pytest.raises(ValueError, match="max_distance"):
        GlobalEncoder(tiny_config(**{"global": {"max_distance": FAR}}).global_, 39, 10, 16)
