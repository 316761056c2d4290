"""The assembled model: every parameter trains, ablations build and run, errors say what is missing."""

from __future__ import annotations

import pytest
import torch
from model_inputs import SMILES, batch_of, encode, make_tokenizer, tiny_config

from lgmcl_dgl.models.lgmcl import LGMCL
from lgmcl_dgl.train.losses import masked_bce, nt_xent


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tokenizer = make_tokenizer(tmp_path_factory.mktemp("tok"))
    smiles_ids, smiles_mask = encode(tokenizer, SMILES)
    desc_ids, desc_mask = encode(tokenizer, [f"molecule {s} with some rings and groups" for s in SMILES])
    torch.manual_seed(0)
    fingerprints = (torch.rand(len(SMILES), 1489) > 0.8).float()
    return batch_of(SMILES), fingerprints, smiles_ids, smiles_mask, desc_ids, desc_mask


@pytest.mark.parametrize(
    "fusion, readout, relative_attention", [("gated", "mean", False), ("attention", "attentivefp", True)]
)
def test_every_parameter_receives_a_gradient(inputs, fusion, readout, relative_attention):
    torch.manual_seed(0)
    text = {"shared": False, "relative_attention": relative_attention}
    model = LGMCL(tiny_config(fusion=fusion, local={"hidden": 16, "readout": readout}, text=text), n_tasks=2)
    graph, fingerprints, smiles_ids, smiles_mask, desc_ids, desc_mask = inputs
    views = model.pretrain_views(graph, smiles_ids, smiles_mask, desc_ids, desc_mask)
    assert set(views) == {"local", "global", "smiles", "description"}
    assert all(v.shape == (len(SMILES), 16) for v in views.values())
    contrast = nt_xent(views["local"], views["global"]) + nt_xent(views["smiles"], views["description"]) + nt_xent(views["global"], views["smiles"])
    logits = model(graph, fingerprints, smiles_ids, smiles_mask, desc_ids, desc_mask)
    assert logits.shape == (len(SMILES), 2)
    labels = torch.randint(0, 2, logits.shape).float()
    (contrast + masked_bce(logits, labels, torch.ones_like(labels, dtype=torch.bool))).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"


ABLATIONS = [  # each fusion kind sees lone branches, a lone pair, and fingerprints with one branch
    ("gated", ["local"]), ("attention", ["global"]), ("gated", ["text"]), ("attention", ["fingerprints"]),
    ("attention", ["local", "global"]), ("gated", ["text", "fingerprints"]), ("attention", ["global", "text", "fingerprints"]),
    ("gated", ["local", "fingerprints"]),
]


@pytest.mark.parametrize("fusion, modalities", ABLATIONS, ids=[f"{f}:{'+'.join(m)}" for f, m in ABLATIONS])
def test_switched_off_modalities_are_neither_built_nor_needed(inputs, fusion, modalities):
    torch.manual_seed(0)
    model = LGMCL(tiny_config(fusion=fusion, modalities=modalities), n_tasks=3)
    graph, fingerprints, smiles_ids, smiles_mask, desc_ids, desc_mask = inputs
    assert (model.local is None) == ("local" not in modalities)
    assert (model.global_ is None) == ("global" not in modalities)
    assert (model.text_encoder is None) == ("text" not in modalities)
    assert (model.fusion.fingerprints is None) == ("fingerprints" not in modalities)
    text = (smiles_ids, smiles_mask, desc_ids, desc_mask) if "text" in modalities else (None,) * 4
    out = model(graph, fingerprints if "fingerprints" in modalities else None, *text)
    assert out.shape == (len(SMILES), 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.fusion.parameters())


def test_missing_inputs_and_missing_head_are_clear_errors(inputs):
    graph, fingerprints, smiles_ids, smiles_mask, desc_ids, desc_mask = inputs
    with pytest.raises(RuntimeError, match="n_tasks=0"):
        LGMCL(tiny_config())(graph, fingerprints, smiles_ids, smiles_mask, desc_ids, desc_mask)
    with pytest.raises(ValueError, match="text modality"):
        LGMCL(tiny_config(), n_tasks=1)(graph, fingerprints)
    with pytest.raises(ValueError, match="fingerprints"):
        LGMCL(tiny_config(), n_tasks=1)(graph, None, smiles_ids, smiles_mask, desc_ids, desc_mask)


@pytest.mark.parametrize("featurizer", ["attentivefp", "paper"])
def test_runs_on_the_featurize_steps_batches(featurizer):
    """The contract with lgmcl_dgl.featurize: collate()'s GraphBatch goes straight in, salts and single atoms included."""
    from lgmcl_dgl.featurize.dataset import collate
    from lgmcl_dgl.featurize.graphs import feature_dims
    from lgmcl_dgl.featurize.pipeline import FeaturizeConfig, featurize_smiles

    records = featurize_smiles(SMILES, FeaturizeConfig(atom_featurizer=featurizer, progress=False))
    batch = collate(records)
    node_dim, edge_dim = feature_dims(featurizer)
    torch.manual_seed(0)
    model = LGMCL(tiny_config(node_feat_dim=node_dim, edge_feat_dim=edge_dim, modalities=["local", "global", "fingerprints"]), n_tasks=1).eval()
    with torch.no_grad():
        out = model(batch.graph, batch.fingerprints)
        alone = torch.cat([model(collate([r]).graph, collate([r]).fingerprints) for r in records])
    assert out.shape == (len(SMILES), 1) and torch.isfinite(out).all()
    torch.testing.assert_close(out, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fusion", ["gated", "attention"])
def test_a_prediction_does_not_depend_on_its_batch(tmp_path, fusion):
    """Padding of atoms and tokens differs between the batch and each molecule alone."""
    tokenizer = make_tokenizer(tmp_path)
    torch.manual_seed(0)
    model = LGMCL(tiny_config(fusion=fusion, text={"relative_attention": True}), n_tasks=2).eval()
    descriptions = [f"molecule {s} with {'many ' * i}rings" for i, s in enumerate(SMILES)]
    fingerprints = torch.rand(len(SMILES), 1489)

    def predict(positions):
        s_ids, s_mask = encode(tokenizer, [SMILES[i] for i in positions])
        d_ids, d_mask = encode(tokenizer, [descriptions[i] for i in positions])
        with torch.no_grad():
            return model(batch_of([SMILES[i] for i in positions]), fingerprints[positions], s_ids, s_mask, d_ids, d_mask)

    together = predict(list(range(len(SMILES))))
    alone = torch.cat([predict([i]) for i in range(len(SMILES))])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
