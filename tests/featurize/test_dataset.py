"""FeaturizedDataset and collate against dgllife's own graphs, and through an AttentiveFP model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dgllife.model import AttentiveFPPredictor
from dgllife.utils import AttentiveFPAtomFeaturizer, AttentiveFPBondFeaturizer, smiles_to_bigraph
from rdkit import Chem
from rdkit.Chem import MACCSkeys

from lgmcl_dgl.featurize import FeaturizeConfig, FeaturizedDataset, collate, featurize


@pytest.fixture
def dataset(edge_case_csv, tmp_path) -> FeaturizedDataset:
    return FeaturizedDataset(featurize(edge_case_csv, tmp_path / "out",
                                       FeaturizeConfig(fingerprints=("maccs", "erg"), shard_size=3, jobs=1, progress=False)))


def test_contract_fields(dataset):
    assert len(dataset) == 7 and dataset.rows.dtype == np.int64 and dataset.labels.dtype == np.float32
    assert (dataset.node_feat_dim, dataset.edge_feat_dim, dataset.fingerprint_dim) == (39, 10, 167 + 441)
    assert np.isnan(dataset.labels[0, 1]) and dataset.labels[1, 1] == 2.5
    record = dataset[-1]
    assert record.row == 9 and record.smiles == "c1ccccc1" and dataset.smiles[-1] == "c1ccccc1"
    with pytest.raises(IndexError):
        dataset[7]
    assert dataset.positions_of_rows([9, 0]).tolist() == [6, 0]
    with pytest.raises(KeyError, match="row"):
        dataset.positions_of_rows([3])


def test_collate_equals_dgllife_graphs_and_rdkit_fingerprints(dataset):
    batch = collate([dataset[i] for i in range(len(dataset))])
    with open(dataset.manifest.extra["source"]) as handle:
        original = [line.split(",")[0] for line in handle.read().splitlines()[1:]]
    graphs = [smiles_to_bigraph(original[row], node_featurizer=AttentiveFPAtomFeaturizer(),
                                edge_featurizer=AttentiveFPBondFeaturizer()) for row in dataset.rows]
    assert batch.graph.batch_size == 7
    assert batch.graph.batch_num_nodes().tolist() == [g.num_nodes() for g in graphs]
    assert batch.graph.batch_num_edges().tolist() == [g.num_edges() for g in graphs]
    offset = 0
    for k, g in enumerate(graphs):
        src, dst = g.edges()
        n_edges = g.num_edges()
        edge_start = int(batch.graph.batch_num_edges()[:k].sum())
        bsrc, bdst = batch.graph.edges()
        assert torch.equal(bsrc[edge_start:edge_start + n_edges] - offset, src)
        assert torch.equal(bdst[edge_start:edge_start + n_edges] - offset, dst)
        assert torch.equal(batch.graph.ndata["h"][offset:offset + g.num_nodes()], g.ndata["h"])
        if n_edges:
            assert torch.equal(batch.graph.edata["e"][edge_start:edge_start + n_edges], g.edata["e"])
        offset += g.num_nodes()
    maccs = np.array([list(MACCSkeys.GenMACCSKeys(Chem.MolFromSmiles(original[r]))) for r in dataset.rows], np.float32)
    assert batch.fingerprints.shape == (7, 608) and torch.equal(batch.fingerprints[:, :167], torch.from_numpy(maccs))
    assert batch.mask.dtype == torch.bool and not batch.mask[0, 1] and batch.labels[0, 1] == 0
    assert batch.labels[1, 1] == 2.5 and batch.rows.tolist() == dataset.rows.tolist()
    assert batch.to("cpu").graph.device.type == "cpu" and len(batch) == 7


def test_batches_with_single_atoms_and_no_bonds_run_through_attentivefp(dataset):
    batch = collate([dataset[1], dataset[2], dataset[0]])  # C, [Na+].[Cl-], CCO
    assert batch.graph.batch_num_edges().tolist() == [0, 0, 4]
    model = AttentiveFPPredictor(node_feat_size=39, edge_feat_size=10, num_layers=2, graph_feat_size=16, n_tasks=2)
    out = model(batch.graph, batch.graph.ndata["h"], batch.graph.edata["e"])
    assert out.shape == (3, 2) and torch.isfinite(out).all()
