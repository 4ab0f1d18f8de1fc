"""Config keys renamed to their rules' names: the old names are still read, as the
same settings, so a finished run configured with them reruns nothing."""

from __future__ import annotations

import pytest
from snakemake_runner import planned_outputs, snakemake

from alice_w2s import pipeline
from alice_w2s.config import RENAMED_STAGE_KEYS, load_schema, validate


def _config(stages: dict) -> dict:
    return validate({
        "summarizer": "a", "models": {"a": {"source": "hub", "path": "org/a"}},
        "datasets": {"d": {"kind": "triviaqa", "source": "hub"}},
        "tables": {"table1": {"datasets": ["d"], "blocks": [{"name": "x", "rows": [{"label": "A", "model": "a@gold"}]}]}},
        "stages": stages,
    }, load_schema())


def test_each_generating_stage_s_settings_are_under_its_rule_s_name():
    assert set(pipeline.GENERATING) <= set(load_schema()["properties"]["stages"]["properties"])
    assert set(RENAMED_STAGE_KEYS.values()) <= set(pipeline.GENERATING)


def test_old_stage_keys_are_read_as_the_new_ones_with_a_note(capsys):
    old = _config({"cot": {"tries": 3}, "summarize": {"max_new_tokens": 7}, "w2s": {"temperature": 0.2}})
    new = _config({"cot_filter": {"tries": 3}, "summarize_uncertainty": {"max_new_tokens": 7}, "w2s_answers": {"temperature": 0.2}})
    assert old == new and "cot" not in old["stages"]
    assert "note: config key stages.summarize is now stages.summarize_uncertainty; read as such" in capsys.readouterr().err
    # a file given after the embedded default: the old name's values on top of the new one's
    merged = _config({"summarize_uncertainty": {"max_new_tokens": 7, "temperature": 0.5}, "summarize": {"max_new_tokens": 9}})
    assert (merged["stages"]["summarize_uncertainty"]["max_new_tokens"], merged["stages"]["summarize_uncertainty"]["temperature"]) == (9, 0.5)


@pytest.mark.incremental
def test_a_finished_run_configured_with_the_old_names_plans_nothing(toy_run):
    overlay = toy_run / "old_names.yaml"
    overlay.write_text("stages:\n  cot: {tries: 4}\n  summarize: {max_new_tokens: 48}\n  w2s: {max_new_tokens: 48}\n")
    result = snakemake(toy_run, "-n", "table3", "--configfile", str(toy_run / "config" / "toy.yaml"), str(overlay),
                       checkout=toy_run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_outputs(result.stdout) == set()


def test_the_old_name_of_the_tiny_models_is_read_as_tiny(capsys):
    model = {"source": "embedded", "arch": "qwen2", "hidden_size": 128, "num_heads": 2, "num_layers": 2, "intermediate_size": 256}
    config = validate({
        "summarizer": "t", "models": {"t": model}, "embedded": {"vocab_size": 512},
        "datasets": {"d": {"kind": "toy_math", "source": "toy", "toy": {"n_train": 8, "n_eval": 4}}},
        "tables": {"table1": {"datasets": ["d"], "blocks": [{"name": "x", "rows": [{"label": "A", "model": "t@gold"}]}]}},
    }, load_schema())
    assert config["models"]["t"]["source"] == "tiny" and config["tiny"]["vocab_size"] == 512 and "embedded" not in config
    err = capsys.readouterr().err
    assert "note: config key embedded is now tiny" in err and "models.t.source: embedded is now tiny" in err
