"""Saved models reload through safetensors + JSON with identical outputs."""

from __future__ import annotations

import json

import pytest
import torch
from model_inputs import SMILES, batch_of, encode, make_tokenizer, tiny_config
from transformers import DebertaV2Config, DebertaV2Model

from lgmcl_dgl.models.io import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model
from lgmcl_dgl.models.lgmcl import LGMCL


@pytest.mark.parametrize("fusion", ["gated", "attention"])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, fusion):
    torch.manual_seed(0)
    tokenizer = make_tokenizer(tmp_path / "tok")
    model = LGMCL(tiny_config(fusion=fusion, text={"shared": False}), n_tasks=2).eval()
    graph = batch_of(SMILES)
    ids, mask = encode(tokenizer, SMILES)
    fingerprints = torch.rand(len(SMILES), 1489)
    save_model(tmp_path / "model", model)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])
    loaded = load_model(tmp_path / "model").eval()
    assert loaded.config == model.config and loaded.n_tasks == 2
    with torch.no_grad():
        torch.testing.assert_close(loaded(graph, fingerprints, ids, mask, ids, mask), model(graph, fingerprints, ids, mask, ids, mask), rtol=0, atol=0)
        for key, value in model.pretrain_views(graph, ids, mask, ids, mask).items():
            torch.testing.assert_close(loaded.pretrain_views(graph, ids, mask, ids, mask)[key], value, rtol=0, atol=0)


def test_a_model_built_from_a_pretrained_text_model_reloads_without_it(tmp_path):
    torch.manual_seed(0)
    DebertaV2Model(DebertaV2Config(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).save_pretrained(tmp_path / "hf")
    model = LGMCL(tiny_config(text={"text_model": str(tmp_path / "hf")}), n_tasks=1).eval()
    save_model(tmp_path / "model", model)
    (tmp_path / "hf" / "model.safetensors").unlink()  # loading must not need the original text model
    loaded = load_model(tmp_path / "model").eval()
    ids = torch.randint(0, 50, (2, 5))
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_text(ids, torch.ones_like(ids)), model.encode_text(ids, torch.ones_like(ids)), rtol=0, atol=0)
    assert json.loads((tmp_path / "model" / CONFIG_FILE).read_text())["text_backbone"]["hidden_size"] == 8


def test_loading_a_directory_without_a_model_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
        load_model(tmp_path)
