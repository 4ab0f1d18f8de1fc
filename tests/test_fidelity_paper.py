"""config/paper.yaml against the reference protocol (issue 8, items 2-5), and the
per-stage engine options that let the summarizer have a longer context."""

from __future__ import annotations

import json

import pytest
from snakemake_runner import ROOT, copy_checkout

from alice_w2s.config import load_yaml, validate

GENERATING = ("cot_filter", "sample", "summarize_uncertainty", "zeroshot", "synthesize", "w2s_answers", "eval")


@pytest.fixture(scope="module")
def paper() -> dict:
    return validate(load_yaml(ROOT / "config" / "paper.yaml"))


def test_paper_sampling_is_the_references(paper):
    stages = paper["stages"]
    expected = {
        "cot_filter": (0.7, 0.95), "sample": (0.9, 0.95), "summarize_uncertainty": (0.9, 0.95),
        "zeroshot": (0.9, 0.95), "synthesize": (0.9, 0.95), "w2s_answers": (0.6, 0.95),
    }
    for stage, (temperature, top_p) in expected.items():
        assert (stages[stage]["temperature"], stages[stage]["top_p"]) == (temperature, top_p), stage
    assert stages["eval"]["temperature"] == 0.0  # greedy


def test_paper_lengths_do_not_cut_answers_and_fit_each_stage_context(paper):
    stages, engine = paper["stages"], paper["generation"]["vllm"]
    for stage in GENERATING:
        context = {**engine, **stages[stage]["vllm"]}["max_model_len"]
        if stage != "summarize_uncertainty":  # the reference's limit: long GSM8K solutions end inside it
            assert stages[stage]["max_new_tokens"] >= 4096, stage
        # room for the prompt beside the longest response
        assert context >= stages[stage]["max_new_tokens"] + 2048, stage
    # synthesis: the student's and the teacher's answers in the prompt, then a new one
    assert {**engine, **stages["synthesize"]["vllm"]}["max_model_len"] >= 3 * stages["synthesize"]["max_new_tokens"]
    summarize = stages["summarize_uncertainty"]
    shown = summarize["max_representatives"] * summarize["max_representative_chars"] // 3  # >= 3 chars a token
    assert {**engine, **summarize["vllm"]}["max_model_len"] >= shown + summarize["max_new_tokens"]


def test_paper_clusters_free_text_with_instructor(paper):
    cluster = paper["stages"]["cluster"]
    assert cluster["embedder"] == "hkunlp/instructor-large" and cluster["pool_instruction"] is False
    assert cluster["instruction"].format(question="Q?") == 'Represent the paragraph for the question "Q?":'


def test_each_stage_gets_its_own_engine_options(tmp_path):
    """generation_params merges stages.<rule>.vllm over generation.vllm (rules/common.smk)."""
    (tmp_path / "checkout").mkdir()
    checkout = copy_checkout(tmp_path / "checkout")
    (checkout / "Probe.smk").write_text(
        'include: "rules/common.smk"\n\n'
        "rule probe:\n"
        '    output: "{stage}.json"\n'
        '    params: generation=lambda wc: generation_params(wc.stage, lambda _: "tiny-qwen-s")(wc)\n'
        "    run:\n"
        "        import json\n"
        "        open(output[0], 'w').write(json.dumps(params.generation))\n"
    )
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "generation: {backend: vllm}\n"
        "stages: {summarize_uncertainty: {vllm: {max_model_len: 2048}}}\n"
    )
    work = tmp_path / "work"
    result = subprocess_snakemake(checkout, work, overlay)
    assert result.returncode == 0, result.stderr[-3000:]
    summarize = json.loads((work / "summarize_uncertainty.json").read_text())["options"]
    sample = json.loads((work / "sample.json").read_text())["options"]
    assert summarize["max_model_len"] == 2048 and sample["max_model_len"] == 1024  # toy.yaml's global
    assert summarize["gpu_memory_utilization"] == sample["gpu_memory_utilization"] == 0.3


def subprocess_snakemake(checkout, work, overlay):
    import os
    import subprocess
    import sys

    command = [
        sys.executable, "-m", "snakemake", "-s", str(checkout / "Probe.smk"), "-d", str(work), "--cores", "1",
        "summarize_uncertainty.json", "sample.json", "--configfile", str(checkout / "config" / "toy.yaml"), str(overlay),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
