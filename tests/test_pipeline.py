"""The stage table (alice_w2s.pipeline): every stage declared once, and the rules,
scripts, config schema, prompts and report agree with it."""

import pytest
from snakemake_runner import ROOT, copy_checkout, snakemake

from alice_w2s import answers, pipeline, plan, report
from alice_w2s.config import load_schema


def test_every_stage_runs_the_script_of_its_name_and_every_script_is_a_stage():
    scripts = {p.stem for p in (ROOT / "workflow" / "scripts").glob("*.py")}
    assert scripts == set(pipeline.BY_RULE)
    assert len(pipeline.BY_RULE) == len(pipeline.STAGES)


def test_what_a_stage_names_exists_in_the_config_schema_and_the_prompts():
    schema = load_schema()["properties"]
    for stage in pipeline.STAGES:
        assert stage.resources in schema["resources"]["properties"], stage.rule
        if stage.generates:
            assert "backend" in schema["stages"]["properties"][stage.rule]["properties"], stage.rule
        for template in stage.prompts:
            for answer_type in answers.ANSWER_TYPES:
                assert (ROOT / "resources" / "prompts" / template.format(answer_type=answer_type)).is_file(), template


def test_lists_derived_from_the_table():
    assert pipeline.GENERATING == (
        "cot_filter", "sample", "summarize_uncertainty", "zeroshot", "synthesize", "w2s_answers", "eval"
    )
    # the report's sections: the first stage writing into a folder names it, in pipeline order
    assert list(report.STAGES) == [
        "data", "base_models", "cot", "labels", "samples", "clusters", "uncertainty", "zeroshot", "w2s_answers",
        "models", "eval",
    ]
    assert plan.TRAINING_SETS["synthesized"] == pipeline.output("synthesize")
    assert {r.training_set for r in plan.METHODS.values()} <= set(plan.TRAINING_SETS)


def test_an_unknown_stage_or_output_is_one_line():
    with pytest.raises(ValueError, match="no stage 'samples'"):
        pipeline.stage("samples")
    with pytest.raises(ValueError, match="stage 'eval' has no output 'perItem'; it has 'per_item', 'summary'"):
        pipeline.output("eval", "perItem")


def test_a_script_rule_that_is_no_stage_stops_the_plan(tmp_path):
    checkout = copy_checkout(tmp_path)
    rules = checkout / "rules" / "eval.smk"
    rules.write_text(
        rules.read_text() + '\n\nrule stray:\n    output:\n        "x.json",\n    script:\n        "../workflow/scripts/eval.py"\n'
    )
    result = snakemake(checkout, "-n", checkout=checkout)
    assert result.returncode != 0
    assert "error: stray in rules/: no stage 'stray' in alice_w2s.pipeline.STAGES" in result.stderr
