"""LGM-CL assembled: local + global graph encoders, a text encoder, fusion with fingerprints, heads.

`pretrain_views` gives the projected views the contrastive losses compare; `forward` gives the
task outputs. Modalities switched off in the config are not built and not used (ablations).
"""

from __future__ import annotations

import dgl
import torch
from torch import nn
from transformers import PretrainedConfig

from lgmcl_dgl.models.config import ModelConfig
from lgmcl_dgl.models.fusion import MultimodalFusion, Tokens
from lgmcl_dgl.models.global_ import GlobalEncoder
from lgmcl_dgl.models.heads import projection_head, task_head
from lgmcl_dgl.models.local import LocalEncoder
from lgmcl_dgl.models.padding import AtomLayout
from lgmcl_dgl.models.text_encoder import TextEncoder

VIEWS = ("local", "global", "smiles", "description")


class LGMCL(nn.Module):
    def __init__(self, config: ModelConfig, n_tasks: int = 0, text_backbone_config: dict | PretrainedConfig | None = None):
        """`text_backbone_config` rebuilds a saved text backbone without downloading it (see models.io)."""
        super().__init__()
        self.config = config
        self.n_tasks = n_tasks
        dim = config.embed_dim
        graph_dims = (config.node_feat_dim, config.edge_feat_dim, dim)
        self.local = LocalEncoder(config.local, *graph_dims) if config.uses("local") else None
        self.global_ = GlobalEncoder(config.global_, *graph_dims) if config.uses("global") else None
        self.text_encoder = self.description_encoder = None
        if config.uses("text"):
            self.text_encoder = TextEncoder(config.text, dim, text_backbone_config)
            if not config.text.shared:
                self.description_encoder = TextEncoder(config.text, dim, text_backbone_config)
        self.projections = nn.ModuleDict({view: projection_head(dim) for view in self._views()})
        self.fusion = self.head = None
        if n_tasks:
            self.fusion = MultimodalFusion(config)
            self.head = task_head(self.fusion.out_dim, config.head.task_hidden, n_tasks, config.head.task_dropout)

    def _views(self) -> list[str]:
        on = {"local": "local", "global": "global", "smiles": "text", "description": "text"}
        return [view for view in VIEWS if self.config.uses(on[view])]

    def _text(self, kind: str) -> TextEncoder:
        if self.text_encoder is None:
            raise RuntimeError("the text modality is switched off in this model's config")
        return self.description_encoder if kind == "description" and self.description_encoder is not None else self.text_encoder

    def _graph_tokens(self, graph: dgl.DGLGraph) -> tuple[Tokens | None, Tokens | None]:
        layout = AtomLayout.of(graph)
        views = []
        for encoder in (self.local, self.global_):
            if encoder is None:
                views.append(None)
                continue
            atoms, molecules = encoder(graph)
            views.append(Tokens(layout.pad(atoms), layout.mask, molecules))
        return views[0], views[1]

    def _text_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, kind: str) -> Tokens:
        tokens, texts = self._text(kind)(input_ids, attention_mask)
        return Tokens(tokens, attention_mask.bool(), texts)

    def encode_graph(self, graph: dgl.DGLGraph) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Molecule embeddings (B, d) from the local and global encoders (None for one switched off)."""
        local, global_ = self._graph_tokens(graph)
        return (local.summary if local else None), (global_.summary if global_ else None)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, kind: str = "smiles") -> torch.Tensor:
        """Masked-mean text embeddings (B, d); `kind` picks the description encoder when text.shared is False."""
        return self._text(kind)(input_ids, attention_mask)[1]

    def pretrain_views(
        self,
        graph: dgl.DGLGraph | None,
        smiles_ids: torch.Tensor | None = None,
        smiles_mask: torch.Tensor | None = None,
        desc_ids: torch.Tensor | None = None,
        desc_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Projected (B, d) views for contrast: local, global, smiles, description (those switched on
        and given inputs; pass graph=None or no text to pretrain one side alone)."""
        embeddings: dict[str, torch.Tensor] = {}
        if graph is not None:
            local, global_ = self.encode_graph(graph)
            embeddings.update({k: v for k, v in (("local", local), ("global", global_)) if v is not None})
        if self.text_encoder is not None and smiles_ids is not None:
            embeddings["smiles"] = self.encode_text(smiles_ids, smiles_mask, "smiles")
        if self.text_encoder is not None and desc_ids is not None:
            embeddings["description"] = self.encode_text(desc_ids, desc_mask, "description")
        return {view: self.projections[view](value) for view, value in embeddings.items()}

    def forward(
        self,
        graph: dgl.DGLGraph | None,
        fingerprints: torch.Tensor | None = None,
        smiles_ids: torch.Tensor | None = None,
        smiles_mask: torch.Tensor | None = None,
        desc_ids: torch.Tensor | None = None,
        desc_mask: torch.Tensor | None = None,
        text_vectors: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Task outputs (B, n_tasks): logits for classification, z-scored values for regression.

        ``text_vectors`` (B, 2, d) replaces the token ids with ``text_vectors(...)`` computed earlier
        (frozen text encoders: the same outputs, once); the gated fusion uses nothing else of the text.
        """
        if self.head is None:
            raise RuntimeError("this model was built with n_tasks=0 (pretraining); build it with n_tasks > 0 to predict")
        local = global_ = smiles = description = None
        if self.local is not None or self.global_ is not None:
            local, global_ = self._graph_tokens(graph)
        if self.text_encoder is not None and text_vectors is not None:
            if self.config.fusion != "gated":
                raise ValueError(f"text vectors stand in for the text with the gated fusion only, not {self.config.fusion!r}")
            smiles, description = Tokens.single(text_vectors[:, 0]), Tokens.single(text_vectors[:, 1])
        elif self.text_encoder is not None:
            if smiles_ids is None or desc_ids is None:
                raise ValueError("the text modality is on: pass smiles_ids/smiles_mask and desc_ids/desc_mask")
            smiles = self._text_tokens(smiles_ids, smiles_mask, "smiles")
            description = self._text_tokens(desc_ids, desc_mask, "description")
        if self.config.uses("fingerprints") and fingerprints is None:
            raise ValueError("the fingerprints modality is on: pass fingerprints (B, %d)" % self.config.fingerprint_dim)
        return self.head(self.fusion(local, global_, smiles, description, fingerprints))

    def text_vectors(self, smiles_ids: torch.Tensor, smiles_mask: torch.Tensor, desc_ids: torch.Tensor,
                     desc_mask: torch.Tensor) -> torch.Tensor:
        """(B, 2, d): the SMILES and description vectors ``forward`` takes as ``text_vectors``."""
        return torch.stack([self.encode_text(smiles_ids, smiles_mask, "smiles"),
                            self.encode_text(desc_ids, desc_mask, "description")], dim=1)

    def set_text_precision(self, dtype: torch.dtype | None) -> None:
        """Run the text transformers under autocast to ``dtype`` (None: float32). The text branch is
        most of the forward cost; graph encoders stay float32 (DGL's CPU kernels have no bf16)."""
        for encoder in (self.text_encoder, self.description_encoder):
            if encoder is not None:
                encoder.autocast_dtype = dtype

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per part and in total (for logs, presets and benchmarks)."""

        def count(module: nn.Module | None) -> int:
            return sum(p.numel() for p in module.parameters()) if module is not None else 0

        fingerprints = count(self.fusion.fingerprints) if self.fusion is not None else 0
        parts = {
            "local": count(self.local),
            "global": count(self.global_),
            "text": count(self.text_encoder) + count(self.description_encoder),
            "projections": count(self.projections),
            "fingerprint_network": fingerprints,
            "fusion": count(self.fusion) - fingerprints,
            "head": count(self.head),
        }
        return {**parts, "total": count(self)}

    def text_backbone_config(self) -> dict | None:
        """The text transformer's HF config, saved beside the weights so loading needs no download."""
        return self.text_encoder.backbone.config.to_dict() if self.text_encoder is not None else None
