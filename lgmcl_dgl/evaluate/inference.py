"""Model inputs of fine-tuning and prediction, built one way for both: graphs, fingerprints, token ids.

Text is tokenised once per molecule (not per epoch); a batch pads its token ids to its longest text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from lgmcl_dgl.featurize.dataset import GraphBatch, MoleculeRecord, collate
from lgmcl_dgl.train.batching import inference_batches


@dataclass
class ModelInput:
    """One molecule: its featurised record and, when the text branch is on, its token ids, or the
    frozen text encoders' vectors for them (SMILES, description: (2, d)) computed once."""

    record: MoleculeRecord
    smiles_ids: list[int] | None = None
    desc_ids: list[int] | None = None
    text_vectors: np.ndarray | None = None


@dataclass
class ModelBatch:
    graphs: GraphBatch
    smiles_ids: torch.Tensor | None
    smiles_mask: torch.Tensor | None
    desc_ids: torch.Tensor | None
    desc_mask: torch.Tensor | None
    text_vectors: torch.Tensor | None = None  # (B, 2, d) in place of the ids: frozen text encoders' outputs

    def __len__(self) -> int:
        return len(self.graphs)

    def to(self, device: torch.device | str) -> "ModelBatch":
        move = (lambda t: None if t is None else t.to(device))
        return ModelBatch(self.graphs.to(device), move(self.smiles_ids), move(self.smiles_mask),
                          move(self.desc_ids), move(self.desc_mask), move(self.text_vectors))


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def _pad(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(i) for i in ids)
    out = np.full((len(ids), width), pad_id, dtype=np.int64)
    for k, row in enumerate(ids):
        out[k, :len(row)] = row
    tensor = torch.from_numpy(out)
    mask = torch.zeros_like(tensor)
    for k, row in enumerate(ids):
        mask[k, :len(row)] = 1
    return tensor, mask


class Collator:
    """``collate`` for ``ModelInput`` lists; ``pad_id`` is the tokenizer's padding id."""

    def __init__(self, pad_id: int = 0) -> None:
        self.pad_id = pad_id

    def __call__(self, items: Sequence[ModelInput]) -> ModelBatch:
        graphs = collate([item.record for item in items])
        if items[0].text_vectors is not None:
            vectors = torch.from_numpy(np.stack([item.text_vectors for item in items]))
            return ModelBatch(graphs, None, None, None, None, vectors)
        if items[0].smiles_ids is None:
            return ModelBatch(graphs, None, None, None, None)
        smiles_ids, smiles_mask = _pad([item.smiles_ids for item in items], self.pad_id)
        desc_ids, desc_mask = _pad([item.desc_ids for item in items], self.pad_id)
        return ModelBatch(graphs, smiles_ids, smiles_mask, desc_ids, desc_mask)


def forward(model: torch.nn.Module, batch: ModelBatch) -> torch.Tensor:
    """(B, tasks) logits or z-scored values; modalities switched off get None."""
    return model(batch.graphs.graph, batch.graphs.fingerprints, batch.smiles_ids, batch.smiles_mask,
                 batch.desc_ids, batch.desc_mask, text_vectors=batch.text_vectors)


def atom_counts(items: Sequence[ModelInput]) -> np.ndarray:
    """Atoms per item: the dataset's own counts when it keeps them (no record is built), else counted."""
    if hasattr(items, "atom_counts"):
        return np.asarray(items.atom_counts(), dtype=np.int64)
    return np.fromiter((len(item.record.node_feats) for item in items), dtype=np.int64, count=len(items))


@torch.no_grad()
def raw_outputs(model: torch.nn.Module, items: Sequence[ModelInput], collator: Collator, batch_size: int = 256,
                device: torch.device | str = "cpu", atom_budget: int = 0) -> np.ndarray:
    """Model outputs for ``items`` in order, in evaluation mode (no dropout).

    With ``atom_budget``, molecules are scored in batches of similar size within that many padded
    atom slots (``train.batching.inference_batches``); else in consecutive batches of ``batch_size``.
    """
    n_tasks = getattr(model, "n_tasks", 0)
    if atom_budget:
        batches = inference_batches(atom_counts(items), batch_size, atom_budget)
    else:
        batches = [np.arange(start, min(start + batch_size, len(items))) for start in range(0, len(items), batch_size)]
    was_training = model.training
    model.eval()
    out = np.zeros((len(items), n_tasks), np.float32)
    try:
        for batch_items in batches:
            batch = collator([items[int(i)] for i in batch_items]).to(device)
            out[batch_items] = forward(model, batch).float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def to_original_units(outputs: np.ndarray, task_type: str, label_stats) -> np.ndarray:
    """Probabilities for classification; regression outputs un-z-scored with the training statistics."""
    if task_type == "classification":
        return (1.0 / (1.0 + np.exp(-outputs))).astype(np.float32)
    return label_stats.unscale(outputs)
