"""ModelConfig round trips, presets, overrides and the errors for bad keys."""

from __future__ import annotations

import pytest
import yaml

from lgmcl_dgl.models.config import ModelConfig, load_preset, parse_overrides


def test_presets_load_and_round_trip():
    for name in ("small", "paper"):
        config = load_preset(name)
        assert ModelConfig.from_dict(config.to_dict()) == config
        assert "global" in config.to_dict() and "global_" not in config.to_dict()
    paper = load_preset("paper")
    assert (paper.global_.d_model, paper.global_.heads, paper.global_.layers) == (1824, 19, 3)
    assert (paper.local.hidden, paper.text.hidden, paper.text.vocab_size) == (110, 768, 128100)


def test_preset_sizes():
    """The small preset stays CPU-sized; the paper preset has the reference's big parts."""
    from lgmcl_dgl.models.lgmcl import LGMCL

    small = LGMCL(load_preset("small"), n_tasks=1).parameter_counts()
    assert 1_000_000 < small["total"] < 3_000_000
    assert small["total"] == sum(v for k, v in small.items() if k != "total")


def test_overrides_dotted_or_nested_and_yaml_files(tmp_path):
    config = load_preset("small", {"global.layers": 5, "text": {"hidden": 64}, "fusion": "attention"})
    assert (config.global_.layers, config.text.hidden, config.fusion) == (5, 64, "attention")
    assert load_preset("small", {"global.lambda_adj": 1}).global_.lambda_adj == 1.0  # ints pass as floats
    assert config.text.layers == load_preset("small").text.layers  # untouched keys keep the preset
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"embed_dim": 32, "modalities": ["text", "local"], "local": {"readout": "attentivefp"}}))
    mine = load_preset(path, {"local.hidden": 20})
    assert (mine.embed_dim, mine.modalities, mine.local.readout, mine.local.hidden) == (32, ["local", "text"], "attentivefp", 20)


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"global.depth": 3}, KeyError, "global.depth"),
        ({"embedding": 3}, KeyError, "embedding"),
        ({"modalities": ["local", "images"]}, ValueError, "modalities"),
        ({"fusion": "concat"}, ValueError, "fusion"),
        ({"global": {"d_model": 10, "heads": 3}}, ValueError, "divisible"),
        ({"embed_dim.x": 1}, KeyError, "embed_dim"),
        ({"global.layers": "3"}, TypeError, "global.layers"),
        ({"global.spd_bias": 1}, TypeError, "global.spd_bias"),
        ({"head.fingerprint_hidden": [512, "x"]}, TypeError, r"head.fingerprint_hidden\[1\]"),
        ({"fusion": "attention", "embed_dim": 30, "head.fusion_heads": 4}, ValueError, "fusion_heads"),
    ],
)
def test_bad_settings_are_named(overrides, error, message):
    with pytest.raises(error, match=message):
        load_preset("small", overrides)


def test_unknown_preset_lists_the_known_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="small"):
        load_preset("huge")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_preset(tmp_path / "nope.yaml")


def test_command_line_overrides_are_typed():
    overrides = parse_overrides(["global.layers=3", "modalities=[local, text]", "text.text_model=microsoft/deberta-v3-base", "global.lambda_adj=0.5"])
    config = load_preset("small", overrides)
    assert (config.global_.layers, config.modalities, config.text.text_model, config.global_.lambda_adj) == (3, ["local", "text"], "microsoft/deberta-v3-base", 0.5)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["global.layers"])
