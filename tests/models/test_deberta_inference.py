"""The fused-attention DeBERTa forward gives transformers' token states at every real token."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel, DebertaV2Config, DebertaV2Model

from lgmcl_dgl.models import deberta_inference
from lgmcl_dgl.models.config import TextConfig
from lgmcl_dgl.models.text_encoder import TextEncoder, deberta_config


def _padded_batch(vocab: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (6, length), generator=generator)
    lengths = torch.tensor([length, 3, length - 1, 1, 7, length])
    mask = (torch.arange(length)[None] < lengths[:, None]).long()
    return ids * mask, mask


@pytest.mark.parametrize("relative_attention", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_same_states_as_transformers_at_real_tokens(relative_attention, padded):
    torch.manual_seed(0)
    config = TextConfig(vocab_size=300, hidden=32, layers=2, heads=4, intermediate=64, max_length=40,
                        relative_attention=relative_attention)
    backbone = DebertaV2Model(deberta_config(config)).eval()
    assert deberta_inference.supports(backbone)
    ids, mask = _padded_batch(300, 40)
    if not padded:
        mask = torch.ones_like(mask)
    with torch.no_grad():
        reference = backbone(input_ids=ids, attention_mask=mask).last_hidden_state
        fused = deberta_inference.last_hidden_state(backbone, ids, mask)
    real = mask.bool()
    torch.testing.assert_close(fused[real], reference[real], rtol=1e-5, atol=2e-5)


def test_text_encoder_uses_it_only_in_eval_mode_without_gradients():
    torch.manual_seed(0)
    config = TextConfig(vocab_size=300, hidden=32, layers=1, heads=4, intermediate=64, max_length=40)
    encoder = TextEncoder(config, out_dim=16).eval()
    assert encoder.fast_inference
    ids, mask = _padded_batch(300, 40)
    calls = []
    original = deberta_inference.last_hidden_state
    deberta_inference.last_hidden_state = lambda *args: calls.append(1) or original(*args)
    try:
        tokens, pooled = encoder(ids, mask)  # gradients on: transformers' forward, the training path
        assert not calls and pooled.requires_grad
        with torch.no_grad():
            fused_tokens, fused_pooled = encoder(ids, mask)
        assert calls
        calls.clear()
        encoder.train()
        with torch.no_grad():
            encoder(ids, mask)  # training mode: transformers' forward with its dropout, gradients or not
        assert not calls
    finally:
        deberta_inference.last_hidden_state = original
    torch.testing.assert_close(fused_pooled, pooled.detach(), rtol=1e-5, atol=2e-5)


def test_other_backbones_keep_their_own_forward():
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=16))
    assert not deberta_inference.supports(bert)
    with_conv = DebertaV2Model(DebertaV2Config(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                               intermediate_size=16, conv_kernel_size=3))
    assert not deberta_inference.supports(with_conv)
