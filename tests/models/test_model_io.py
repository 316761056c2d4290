"""Saved models reload through safetensors + JSON with identical outputs; a pretrained model given the
SMILES characters its tokenizer lacked keeps its ids and outputs."""

from __future__ import annotations

import json

import pytest
import torch
from model_inputs import SMILES, batch_of, encode, make_tokenizer, tiny_config
from transformers import DebertaV2Config, DebertaV2Model

from lgmcl_dgl.data.artifacts import Manifest, sha256_file
from lgmcl_dgl.models.io import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model
from lgmcl_dgl.models.lgmcl import LGMCL
from lgmcl_dgl.pretrained import ALPHABET_APPENDED, add_smiles_alphabet, resolve_pretrained
from lgmcl_dgl.text.tokenizer import load_tokenizer, train_tokenizer

AT_AND_SLASHES = ["CN1CCC[C@H]1c1cccnc1", "F/C=C\\Cl", "CCO", "N[C@@H](C)C(=O)O.[Na+]"]


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


def text_outputs(model: LGMCL, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """Both text paths (fast inference without gradients, the HF forward with them), both encoders."""
    outputs = []
    for gradients in (False, True):
        with torch.set_grad_enabled(gradients):
            outputs += [model.encode_text(ids, mask, kind).detach() for kind in ("smiles", "description")]
    return outputs


@pytest.mark.parametrize("relative_attention", [True, False])
def test_adding_the_smiles_alphabet_keeps_token_ids_and_outputs(tmp_path, relative_attention):
    r"""A model pretrained with a tokenizer that lacked `@`, `/`, `\`: after add_smiles_alphabet they are tokens
    of their own whose outputs are, until fine-tuning, exactly those [UNK] gave."""
    torch.manual_seed(0)
    directory = tmp_path / "pretrained"
    texts = [s for s in SMILES if "@" not in s] + ["A small polar molecule with one hydroxyl group."]
    old_tokenizer = train_tokenizer(texts * 5, directory / "tokenizer", vocab_size=120, alphabet="")  # as before #25
    model = LGMCL(tiny_config(text={"vocab_size": len(old_tokenizer), "shared": False,
                                    "relative_attention": relative_attention})).eval()
    save_model(directory, model)
    Manifest("pretrained", {}).write(directory)
    old_ids, old_mask = encode(old_tokenizer, AT_AND_SLASHES)
    unk = old_ids == old_tokenizer.unk_token_id
    assert unk.any()

    appended = add_smiles_alphabet(directory)
    assert {"@", "/", "\\", "%", "*"} <= set(appended)
    tokenizer = load_tokenizer(directory / "tokenizer")
    ids, mask = encode(tokenizer, AT_AND_SLASHES)
    assert torch.equal(mask, old_mask) and torch.equal(ids[~unk], old_ids[~unk])
    assert (ids[unk] >= len(old_tokenizer)).all() and not (ids == tokenizer.unk_token_id).any()
    loaded = load_model(directory).eval()
    assert loaded.config.text.vocab_size == len(tokenizer) == len(old_tokenizer) + len(appended)
    for new, old in zip(text_outputs(loaded, ids, mask), text_outputs(model, old_ids, old_mask)):
        assert torch.equal(new, old)
    assert Manifest.read(directory).extra[ALPHABET_APPENDED] == appended
    digests = {p.name: sha256_file(p) for p in directory.rglob("*") if p.is_file()}
    assert add_smiles_alphabet(directory) == ""  # nothing left to add: nothing rewritten
    assert digests == {p.name: sha256_file(p) for p in directory.rglob("*") if p.is_file()}


def test_the_shipped_model_gives_the_appended_characters_the_outputs_unk_gave():
    path = resolve_pretrained("zinc-small")
    tokenizer, model = load_tokenizer(path / "tokenizer"), load_model(path).eval()
    appended = Manifest.read(path).extra[ALPHABET_APPENDED]
    assert {"@", "/", "\\", "I", "Z"} <= set(appended)
    ids, mask = encode(tokenizer, AT_AND_SLASHES + ["ICC[Zn+2]"])
    was_unk = ids >= len(tokenizer) - len(appended)
    assert was_unk.any() and model.config.text.vocab_size == len(tokenizer)
    with torch.no_grad():
        assert torch.equal(model.encode_text(ids, mask), model.encode_text(ids.masked_fill(was_unk, tokenizer.unk_token_id), mask))
