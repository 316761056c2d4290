"""DeBERTa-v2's forward pass for inference, on the same weights, with fused attention.

transformers' DebertaV2 spends most of its CPU time outside the matrix products: it copies every
head layout (``contiguous``), masks scores out of place and runs softmax as a separate pass.
Here the attention is one ``scaled_dot_product_attention`` call (DeBERTa's relative c2p/p2c terms
enter as its additive mask): the small preset's whole model takes about 1.5x less CPU per molecule
(benchmarks/predict.py times its forward both ways), and the states equal transformers' at every
real token (tests/models/test_deberta_inference.py). Padding tokens' states differ (they attend to real
tokens instead of uniformly); every consumer masks them out. Training mode keeps transformers' forward:
its dropout and gradients are the reference.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from transformers import DebertaV2Model
from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position


def supports(backbone: torch.nn.Module) -> bool:
    """Whether ``backbone`` is a DeBERTa-v2 with only the parts this forward implements."""
    if type(backbone) is not DebertaV2Model:
        return False
    config = backbone.config
    attention = backbone.encoder.layer[0].attention.self
    relative = getattr(config, "relative_attention", False)
    return (getattr(config, "conv_kernel_size", 0) == 0 and config.type_vocab_size == 0
            and getattr(backbone, "z_steps", 0) <= 1 and config.hidden_act == "gelu"
            and (not relative or (attention.share_att_key and set(attention.pos_att_type) <= {"c2p", "p2c"})))


def last_hidden_state(backbone: DebertaV2Model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, L, hidden) token states, as ``backbone(input_ids, attention_mask).last_hidden_state`` at real tokens."""
    embeddings = backbone.embeddings
    length = input_ids.shape[1]
    states = embeddings.word_embeddings(input_ids)
    if embeddings.position_embeddings is not None:
        states = states + embeddings.position_embeddings.weight[:length]
    if embeddings.embed_proj is not None:
        states = embeddings.embed_proj(states)
    states = embeddings.LayerNorm(states) * attention_mask.unsqueeze(-1).to(states.dtype)
    keys = attention_mask.bool()
    encoder = backbone.encoder
    relative = encoder.relative_attention
    rel_embeddings = encoder.get_rel_embedding() if relative else None
    relative_pos = (build_relative_position(states, states, bucket_size=encoder.position_buckets,
                                            max_position=encoder.max_relative_positions)[0] if relative else None)
    # no mask when no text is padded: the fused kernel then needs none
    padding = None if bool(keys.all()) else keys[:, None, None, :]
    for layer in encoder.layer:
        states = _layer(layer, states, padding, relative_pos, rel_embeddings)
    return states


def _layer(layer, states: torch.Tensor, padding: torch.Tensor | None, relative_pos: torch.Tensor | None,
           rel_embeddings: torch.Tensor | None) -> torch.Tensor:
    attention = layer.attention.self
    batch, length, width = states.shape
    heads = attention.num_attention_heads

    def split(x: torch.Tensor) -> torch.Tensor:  # (B, L, H*d) -> (B, H, L, d), a view
        return x.view(batch, length, heads, -1).transpose(1, 2)

    query, key, value = (split(proj(states)) for proj in (attention.query_proj, attention.key_proj, attention.value_proj))
    head_dim = query.shape[-1]
    scale_factor = 1 + len(attention.pos_att_type) if attention.relative_attention else 1
    scale = math.sqrt(head_dim * scale_factor)
    mask = padding
    if attention.relative_attention:
        bias = _relative_bias(attention, query, key, relative_pos, rel_embeddings, scale)
        mask = bias if padding is None else bias.masked_fill(~padding, float("-inf"))
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=1.0 / scale)
    context = context.transpose(1, 2).reshape(batch, length, width)
    output = layer.attention.output
    attended = output.LayerNorm(output.dense(context) + states)
    hidden = layer.intermediate(attended)
    return layer.output.LayerNorm(layer.output.dense(hidden) + attended)


def _relative_bias(attention, query: torch.Tensor, key: torch.Tensor, relative_pos: torch.Tensor,
                   rel_embeddings: torch.Tensor, scale: float) -> torch.Tensor:
    """DeBERTa's content->position plus position->content scores (B, H, L, L), already scaled."""
    span = attention.pos_ebd_size
    heads = attention.num_attention_heads
    rel = rel_embeddings[: span * 2]
    batch, _, length, _ = query.shape
    bias = query.new_zeros(())
    if "c2p" in attention.pos_att_type:
        pos_key = attention.key_proj(rel).view(span * 2, heads, -1).permute(1, 2, 0)  # (H, d, 2*span)
        index = torch.clamp(relative_pos + span, 0, span * 2 - 1).expand(batch, heads, length, length)
        bias = bias + torch.gather(query @ pos_key, -1, index) / scale
    if "p2c" in attention.pos_att_type:
        pos_query = attention.query_proj(rel).view(span * 2, heads, -1).permute(1, 2, 0)
        index = torch.clamp(-relative_pos + span, 0, span * 2 - 1).expand(batch, heads, length, length)
        bias = bias + torch.gather(key @ pos_query, -1, index).transpose(-1, -2) / scale
    return bias
