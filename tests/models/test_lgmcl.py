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


@pytest.mark.parametrize("fusion", ["gated", "attention"])
@pytest.mark.parametrize("readout", ["mean", "attentivefp"])
def test_every_parameter_receives_a_gradient(inputs, fusion, readout):
    torch.manual_seed(0)
    model = LGMCL(tiny_config(fusion=fusion, local={"hidden": 16, "readout": readout}, text={"shared": False}), n_tasks=2)
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


ABLATIONS = [["local"], ["global"], ["text"], ["fingerprints"], ["local", "global"], ["text", "fingerprints"], ["global", "fingerprints"]]


@pytest.mark.parametrize("fusion", ["gated", "attention"])
@pytest.mark.parametrize("modalities", ABLATIONS, ids=["+".join(m) for m in ABLATIONS])
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
