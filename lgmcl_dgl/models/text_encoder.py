"""Text encoder: a transformers encoder (DeBERTa-v2 from scratch by default) with masked mean pooling."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, DebertaV2Config, DebertaV2Model, PretrainedConfig

from lgmcl_dgl.models import deberta_inference
from lgmcl_dgl.models.config import TextConfig
from lgmcl_dgl.models.padding import masked_mean


def deberta_config(config: TextConfig) -> DebertaV2Config:
    """DeBERTa-v3-style settings (disentangled relative attention, no absolute positions) at our
    sizes; with relative_attention off, absolute position embeddings instead."""
    relative = config.relative_attention
    return DebertaV2Config(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=config.intermediate,
        max_position_embeddings=config.max_length,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        relative_attention=relative,
        position_buckets=min(256, config.max_length),
        max_relative_positions=-1,
        pos_att_type=["p2c", "c2p"] if relative else None,
        position_biased_input=not relative,
        norm_rel_ebd="layer_norm" if relative else "none",
        share_att_key=True,
        pad_token_id=config.pad_token_id,
    )


def build_backbone(config: TextConfig, backbone_config: dict | PretrainedConfig | None = None) -> nn.Module:
    """The transformer: rebuilt from a saved HF config (weights loaded later), loaded from
    `text_model` (local path or Hugging Face id), or a fresh DeBERTa-v2 from our sizes."""
    if backbone_config is not None:
        if isinstance(backbone_config, dict):
            settings = dict(backbone_config)
            backbone_config = AutoConfig.for_model(settings.pop("model_type"), **settings)
        return AutoModel.from_config(backbone_config)
    if config.text_model:
        return AutoModel.from_pretrained(config.text_model)
    return DebertaV2Model(deberta_config(config))


class TextEncoder(nn.Module):
    """Token states projected to the common width, and their masked mean per text."""

    def __init__(self, config: TextConfig, out_dim: int, backbone_config: dict | PretrainedConfig | None = None):
        super().__init__()
        self.backbone = build_backbone(config, backbone_config)
        self.out = nn.Linear(self.backbone.config.hidden_size, out_dim)
        self.autocast_dtype: torch.dtype | None = None  # e.g. bfloat16 for faster inference; outputs stay float32
        self.fast_inference = deberta_inference.supports(self.backbone)  # in eval mode without gradients

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (token states (B, L, out_dim), text vectors (B, out_dim))."""
        settings = self.backbone.config
        if getattr(settings, "position_biased_input", True) and input_ids.shape[1] > settings.max_position_embeddings:
            raise ValueError(
                f"texts of {input_ids.shape[1]} tokens exceed the text encoder's {settings.max_position_embeddings} positions; "
                f"tokenize with truncation=True, max_length={settings.max_position_embeddings}"
            )
        precision = torch.autocast(input_ids.device.type, self.autocast_dtype) if self.autocast_dtype else nullcontext()
        with precision:
            if self.fast_inference and not (self.training or torch.is_grad_enabled()):  # it has no dropout
                states = deberta_inference.last_hidden_state(self.backbone, input_ids, attention_mask)
            else:
                states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        tokens = self.out(states.float())
        return tokens, masked_mean(tokens, attention_mask.bool())

    def grow_vocabulary(self, vocab_size: int, copied_row: int) -> None:
        """Token rows up to `vocab_size` for a tokenizer given new tokens, each a copy of row `copied_row`
        ([UNK]): a text whose new tokens were [UNK] before gets identical outputs until training tells them apart."""
        old = self.backbone.get_input_embeddings()
        if vocab_size < old.num_embeddings:
            raise ValueError(f"the text encoder has {old.num_embeddings} token rows; cannot shrink to {vocab_size}")
        grown = nn.Embedding(vocab_size, old.embedding_dim, padding_idx=old.padding_idx,
                             device=old.weight.device, dtype=old.weight.dtype)
        with torch.no_grad():
            grown.weight[:old.num_embeddings] = old.weight
            grown.weight[old.num_embeddings:] = old.weight[copied_row]
        self.backbone.set_input_embeddings(grown)
        self.backbone.config.vocab_size = vocab_size
