"""A model directory: ``model_config.json`` (config, task count, text backbone config) + ``model.safetensors``.

No pickles: weights are safetensors, everything else JSON. Files are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from lgmcl_dgl.data.artifacts import atomic_write_bytes, atomic_write_json
from lgmcl_dgl.models.config import ModelConfig
from lgmcl_dgl.models.lgmcl import LGMCL

CONFIG_FILE = "model_config.json"
WEIGHTS_FILE = "model.safetensors"


def save_model(directory: str | os.PathLike, model: LGMCL, config: ModelConfig | None = None) -> Path:
    """Write weights then config; returns the directory."""
    directory = Path(directory)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, save(state))
    atomic_write_json(
        directory / CONFIG_FILE,
        {"model": (config or model.config).to_dict(), "n_tasks": model.n_tasks, "text_backbone": model.text_backbone_config()},
    )
    return directory


def read_model_config(directory: str | os.PathLike) -> tuple[ModelConfig, int]:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no {CONFIG_FILE}; not a saved lgmcl model directory")
    data = json.loads(path.read_text())
    return ModelConfig.from_dict(data["model"]), int(data["n_tasks"])


def load_model(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> LGMCL:
    """Rebuild the model from its config and load its weights (strict: every tensor must match)."""
    directory = Path(directory)
    config, n_tasks = read_model_config(directory)
    text_backbone = json.loads((directory / CONFIG_FILE).read_text())["text_backbone"]
    model = LGMCL(config, n_tasks, text_backbone_config=text_backbone)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{directory}: no {WEIGHTS_FILE}")
    model.load_state_dict(load_file(weights, device=str(map_location)))
    return model.to(map_location)
