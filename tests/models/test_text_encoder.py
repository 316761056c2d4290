"""The DeBERTa text encoder: padding invariance, loading a pretrained model by path, one or two encoders, bf16."""

from __future__ import annotations

import pytest
import torch
from model_inputs import encode, make_tokenizer, tiny_config
from transformers import DebertaV2Config, DebertaV2Model

from lgmcl_dgl.models.lgmcl import LGMCL

TEXTS = ["CCO", "A small polar molecule with one hydroxyl group and an aromatic ring bearing an amide."]


@pytest.mark.parametrize("relative_attention", [False, True])
def test_padding_tokens_do_not_change_text_embeddings(tmp_path, relative_attention):
    torch.manual_seed(0)
    tokenizer = make_tokenizer(tmp_path)
    model = LGMCL(tiny_config(text={"relative_attention": relative_attention})).eval()
    ids, mask = encode(tokenizer, TEXTS)
    assert (mask[0] == 0).any()  # the short text really is padded
    with torch.no_grad():
        batched = model.encode_text(ids, mask)
        alone = model.encode_text(*encode(tokenizer, TEXTS[:1]))
        # garbage in the padded positions must not matter either
        noisy = ids.clone()
        noisy[mask == 0] = 7
        noisy_batched = model.encode_text(noisy, mask)
    torch.testing.assert_close(batched[:1], alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(noisy_batched, batched, rtol=1e-5, atol=1e-5)


def test_text_model_path_loads_pretrained_weights(tmp_path):
    torch.manual_seed(0)
    pretrained = DebertaV2Model(DebertaV2Config(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16))
    pretrained.save_pretrained(tmp_path / "tiny-deberta")
    model = LGMCL(tiny_config(text={"text_model": str(tmp_path / "tiny-deberta")}))
    loaded = model.text_encoder.backbone
    assert loaded.config.hidden_size == 8
    for name, tensor in pretrained.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)
    ids = torch.randint(0, 50, (2, 6))
    assert model.encode_text(ids, torch.ones_like(ids)).shape == (2, 16)


def test_one_shared_encoder_or_two():
    shared = LGMCL(tiny_config())
    separate = LGMCL(tiny_config(text={"shared": False}))
    assert shared.description_encoder is None
    assert separate.description_encoder is not None and separate.description_encoder is not separate.text_encoder
    ids = torch.randint(5, 100, (2, 6))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        separate.eval()
        assert not torch.allclose(separate.encode_text(ids, mask, "smiles"), separate.encode_text(ids, mask, "description"))
        shared.eval()
        torch.testing.assert_close(shared.encode_text(ids, mask, "smiles"), shared.encode_text(ids, mask, "description"))


def test_too_long_texts_are_a_clear_error():
    model = LGMCL(tiny_config(text={"relative_attention": False, "max_length": 8}))
    ids = torch.randint(5, 100, (1, 9))
    with pytest.raises(ValueError, match="max_length=8"):
        model.encode_text(ids, torch.ones_like(ids))


def test_bfloat16_text_precision_is_float32_out_and_close(tmp_path):
    torch.manual_seed(0)
    tokenizer = make_tokenizer(tmp_path)
    model = LGMCL(tiny_config(text={"shared": False})).eval()
    ids, mask = encode(tokenizer, TEXTS)
    with torch.no_grad():
        full = model.encode_text(ids, mask, "description")
        model.set_text_precision(torch.bfloat16)
        half = model.encode_text(ids, mask, "description")
        model.set_text_precision(None)
        again = model.encode_text(ids, mask, "description")
    assert half.dtype == torch.float32
    assert not torch.equal(half, full)  # bf16 really ran
    torch.testing.assert_close(half, full, rtol=0.05, atol=0.05)
    torch.testing.assert_close(again, full, rtol=0, atol=0)
