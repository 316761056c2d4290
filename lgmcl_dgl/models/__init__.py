"""LGM-CL model parts: encoders, fusion, heads, their configs and presets."""

from lgmcl_dgl.models.config import ModelConfig, load_preset
from lgmcl_dgl.models.io import load_model, save_model
from lgmcl_dgl.models.lgmcl import LGMCL

__all__ = ["LGMCL", "ModelConfig", "load_model", "load_preset", "save_model"]
