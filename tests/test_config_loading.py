"""Which config a run uses, and that the same settings always give the same params."""

import pytest
import yaml
from snakemake_runner import ROOT

from alice_w2s.config import ConfigError, load_yaml, resolve_config, validate

DEFAULT = ROOT / "config" / "config.yaml"


def reordered(value):
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def test_key_order_does_not_change_the_validated_config():
    config = load_yaml(DEFAULT)
    first, second = validate(config), validate(reordered(config))
    assert repr(first) == repr(second)  # Snakemake compares params as text


@pytest.mark.parametrize("spelling", ["1e-3", "0.001", "1.0e-3", "0.0010"])
def test_a_number_is_one_value_however_yaml_spells_it(spelling):
    config = load_yaml(DEFAULT)
    config["sft"]["learning_rate"] = yaml.safe_load(f"v: {spelling}")["v"]
    assert repr(validate(config)["sft"]["learning_rate"]) == "0.001"


def test_an_integer_where_a_number_is_asked_is_that_number():
    config = load_yaml(DEFAULT)
    config["sft"]["learning_rate"] = 1
    assert repr(validate(config)["sft"]["learning_rate"]) == "1.0"


def test_a_word_where_a_number_is_asked_is_still_refused():
    config = load_yaml(DEFAULT)
    config["sft"]["learning_rate"] = "fast"
    with pytest.raises(ConfigError, match="sft.learning_rate"):
        validate(config)


def test_without_a_configfile_the_embedded_default_applies_under_command_line_values():
    resolved = resolve_config({"seed": 7}, [], DEFAULT)
    assert resolved["seed"] == 7 and resolved["models"] == load_yaml(DEFAULT)["models"]


def test_a_configfile_replaces_the_default_and_an_overlay_alone_is_refused_with_one_line():
    paper = load_yaml(ROOT / "config" / "paper.yaml")
    assert resolve_config(paper, ["config/paper.yaml"], DEFAULT) == paper
    with pytest.raises(ConfigError) as err:
        resolve_config({"stages": {"sample": {"k": 5}}}, ["mine.yaml"], DEFAULT)
    message = str(err.value)
    assert "\n" not in message and "--configfile config/config.yaml mine.yaml" in message


def test_every_workflow_profile_reruns_by_content():
    """A --workflow-profile replaces profiles/default: each one must switch off the
    mtime-based code trigger and remake incomplete outputs."""
    for profile in sorted((ROOT / "profiles").glob("*/config.yaml")):
        settings = load_yaml(profile)
        assert settings["rerun-triggers"] == ["mtime", "params", "input", "software-env"], profile
        assert settings["rerun-incomplete"] is True, profile
