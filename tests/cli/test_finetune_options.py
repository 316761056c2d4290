"""``lgmcl finetune``'s settings: --set, the optimiser options, --recipe and --run-config, and their precedence."""

import json

import pytest
import yaml
from click.testing import CliRunner
from tiny_finetune import TINY_MODEL, slice_csv

from lgmcl_dgl.cli.finetune import RECIPE_CHOICES
from lgmcl_dgl.cli.main import cli
from lgmcl_dgl.finetune import RECIPES

TINY = [arg for key, value in TINY_MODEL.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
QUICK = ["--target-columns", "p_np", "--modalities", "local", "fingerprints", "--epochs", "1", "--jobs", "1",
         "--device", "cpu", "--quiet", "--split-sizes", "0.6", "0.2", "0.2", *TINY]


@pytest.fixture
def bbbp60(moleculenet, tmp_path):
    return slice_csv(moleculenet / "BBBP.csv", tmp_path / "bbbp60.csv", 60)


def _finetune(*args) -> str:
    result = CliRunner().invoke(cli, ["finetune", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_run_config_round_trips_and_explicit_options_win(bbbp60, tmp_path):
    first = tmp_path / "first"
    _finetune(bbbp60, "-o", first, *QUICK, "--recipe", "pretrained", "--lr", "0.002", "--weight-decay", "0.01")
    recorded = json.loads((first / "finetune_config.json").read_text())
    assert {k: recorded[k] for k in RECIPES["pretrained"]} == RECIPES["pretrained"]
    assert recorded["lr"] == 0.002 and recorded["weight_decay"] == 0.01
    assert recorded["overrides"]["text.layers"] == 1 and recorded["overrides"]["head.fingerprint_hidden"] == [64, 32]

    again = tmp_path / "again"  # the recorded settings, from the file alone, make the same run
    _finetune(bbbp60, "-o", again, "--run-config", first / "finetune_config.json", "--quiet", "--device", "cpu")
    assert json.loads((again / "finetune_config.json").read_text()) == recorded

    changed = tmp_path / "changed"  # given options beat the file; a --set key joins the file's overrides
    _finetune(bbbp60, "-o", changed, "--run-config", first / "finetune_config.json", "--lr", "0.003",
              "--set", "text.heads=4", "--recipe", "default", "--quiet")
    now = json.loads((changed / "finetune_config.json").read_text())
    assert now["lr"] == 0.003 and now["overrides"] == {**recorded["overrides"], "text.heads": 4}
    assert now["encoder_lr_factor"] == 0.1  # the file beats --recipe
    assert {k: v for k, v in now.items() if k not in ("lr", "overrides")} == \
        {k: v for k, v in recorded.items() if k not in ("lr", "overrides")}


def test_a_run_config_with_an_unknown_key_is_refused_naming_it(bbbp60, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"lr": 0.01, "learning_rate": 0.1}))
    result = CliRunner().invoke(cli, ["finetune", str(bbbp60), "-o", str(tmp_path / "run"), "--run-config", str(config)])
    assert result.exit_code == 1
    assert f"{config}: unknown setting(s) learning_rate;" in result.output
    assert not (tmp_path / "run" / "finetune_config.json").exists()


def test_the_recipe_option_offers_the_recipes_the_api_has():
    assert set(RECIPE_CHOICES) == set(RECIPES)
