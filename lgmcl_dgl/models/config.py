"""Model configuration: one dataclass per part, one `ModelConfig` holding them, YAML presets.

Dict / YAML keys equal the field names, except the global encoder's section, which is
``global`` in files (``global_`` in Python because ``global`` is a keyword).
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

MODALITIES = ("local", "global", "text", "fingerprints")
FUSIONS = ("gated", "attention")
PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class LocalConfig:
    """dgllife AttentiveFP message passing + readout."""

    hidden: int = 128
    layers: int = 2
    dropout: float = 0.1
    readout: str = "mean"  # mean | attentivefp
    readout_steps: int = 2  # AttentiveFP readout timesteps


@dataclass
class GlobalConfig:
    """Our Graph Transformer: pre-LN blocks with attention restricted to each molecule.

    Attention = lambda_att * softmax(QK^T / sqrt(d_k) + bias) + lambda_adj * row-normalised adjacency
    (MAT's mix); bias = Graphormer shortest-path-distance embedding (``spd_bias``) + a linear map of
    the bond features on bonded pairs (``bond_bias``).
    """

    d_model: int = 128
    heads: int = 4
    layers: int = 2
    ffn_dim: int = 256
    dropout: float = 0.1
    attn_dropout: float = 0.1
    lambda_att: float = 1.0
    lambda_adj: float = 0.0
    spd_bias: bool = True
    bond_bias: bool = True
    max_distance: int = 8  # distances beyond this (and between disconnected fragments) share one bucket


@dataclass
class TextConfig:
    """DeBERTa-v2 text encoder: from scratch with these sizes, or `text_model` (local path or HF id)."""

    text_model: str | None = None
    shared: bool = True  # one encoder for SMILES and descriptions (the paper); False: one each
    vocab_size: int = 2048
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    intermediate: int = 256
    max_length: int = 256
    relative_attention: bool = True  # DeBERTa's disentangled attention; False: absolute positions, ~2x faster on CPU
    dropout: float = 0.1
    pad_token_id: int = 0


@dataclass
class HeadConfig:
    """Fingerprint network, fusion width, projection heads for contrast, task head."""

    fingerprint_hidden: list[int] = field(default_factory=lambda: [512, 300])
    fingerprint_dropout: float = 0.1
    fusion_heads: int = 4  # heads of the `attention` fusion
    fusion_dropout: float = 0.1
    task_hidden: int = 256
    task_dropout: float = 0.1


@dataclass
class ModelConfig:
    """Everything needed to build an `LGMCL` model; round-trips through `to_dict` / `from_dict`."""

    node_feat_dim: int = 39
    edge_feat_dim: int = 10
    fingerprint_dim: int = 1489
    embed_dim: int = 128  # d: width of every encoder's output, of the contrast views and of fusion
    modalities: list[str] = field(default_factory=lambda: list(MODALITIES))
    fusion: str = "gated"  # gated (the reference) | attention (multi-head over atoms and tokens)
    local: LocalConfig = field(default_factory=LocalConfig)
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    text: TextConfig = field(default_factory=TextConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def __post_init__(self) -> None:
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not self.modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {self.modalities}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.local.readout not in ("mean", "attentivefp"):
            raise ValueError(f"local.readout must be 'mean' or 'attentivefp', got {self.local.readout!r}")
        if self.fusion == "attention" and self.embed_dim % self.head.fusion_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by head.fusion_heads {self.head.fusion_heads}")
        if self.global_.d_model % self.global_.heads:
            raise ValueError(f"global.d_model {self.global_.d_model} is not divisible by global.heads {self.global_.heads}")
        self.modalities = [m for m in MODALITIES if m in self.modalities]  # canonical order

    def uses(self, modality: str) -> bool:
        return modality in self.modalities

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["global"] = data.pop("global_")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        data = dict(data)
        if "global" in data:
            data["global_"] = data.pop("global")
        _check_keys(cls, data, "")
        sections = {"local": LocalConfig, "global_": GlobalConfig, "text": TextConfig, "head": HeadConfig}
        for name, section in sections.items():
            if name in data:
                _check_keys(section, data[name], f"{name.rstrip('_')}.")
                data[name] = section(**data[name])
        return cls(**data)


def _check_keys(cls: type, data: dict[str, Any], prefix: str) -> None:
    """Unknown keys and values of the wrong type are errors naming the key; ints pass as floats."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        shown = sorted(k.rstrip("_") for k in known)
        raise KeyError(f"unknown model config key(s) {[prefix + k for k in unknown]}; known under {prefix or 'top level'}: {shown}")
    for name, hint in get_type_hints(cls).items():
        if name in data and not is_dataclass(hint):
            data[name] = _typed(data[name], hint, prefix + name.rstrip("_"))


def _typed(value: Any, hint: Any, key: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"model config {key}: expected a list, got {value!r}")
        return [_typed(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if args:  # X | None
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    numeric = {int: numbers.Integral, float: numbers.Real}.get(hint)  # numpy scalars count
    if numeric is not None and isinstance(value, numeric) and not isinstance(value, bool):
        return hint(value)
    if numeric is not None or not isinstance(value, hint):
        raise TypeError(f"model config {key}: expected {hint.__name__}, got {value!r}")
    return value


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Return a copy of a config dict with overrides applied; keys may be dotted (``global.layers``) or nested dicts."""
    data = copy.deepcopy(data)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = apply_overrides(data[key], value)
            continue
        *parents, leaf = key.split(".")
        target = data
        for part in parents:
            if not isinstance(target.get(part), dict):
                raise KeyError(f"override {key!r}: {part!r} is not a config section")
            target = target[part]
        target[leaf] = value
    return data


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["global.layers=3", "modalities=[local, text]"]`` -> dotted-key dict; values are read as YAML."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not KEY=VALUE (e.g. global.layers=3)")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name_or_yaml: str | Path = "small", overrides: dict[str, Any] | None = None) -> ModelConfig:
    """A preset by name (``small``, ``paper``) or a YAML file path, with per-key overrides."""
    path = Path(name_or_yaml)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_yaml}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"no model preset {name_or_yaml!r}; presets: {preset_names()}, or give a YAML file")
    elif not path.is_file():
        raise FileNotFoundError(f"model config file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    base = ModelConfig().to_dict()
    return ModelConfig.from_dict(apply_overrides(apply_overrides(base, data), overrides))
