"""The plan-time preflight (src/alice_w2s/preflight.py): its arithmetic, the shipped
paper grid passing it, impossible plans stopped with one line, and the requests
and batch sizes of the planned paper-grid jobs."""

import copy
import re

import pytest
import yaml
from snakemake_runner import ROOT, snakemake

from alice_w2s import preflight
from alice_w2s.config import load_schema, validate
from alice_w2s.effective_batch import accumulation_steps
from alice_w2s.plan import parse_key, sft_role
from alice_w2s.run_settings import sft_recipe

PAPER = ROOT / "config" / "paper.yaml"
GIB = 2**30


@pytest.fixture(scope="module")
def paper() -> dict:
    return validate(yaml.safe_load(PAPER.read_text()), load_schema())


def edited(config: dict, **changes) -> dict:
    """A copy of ``config`` with keys set by path, e.g. ``{"models|qwen2.5-7b|sft_gpus": 1}``."""
    config = copy.deepcopy(config)
    for dotted, value in changes.items():
        *path, last = dotted.split("|")
        node = config
        for part in path:
            node = node[part]
        node[last] = value
    return config


def test_sft_memory_arithmetic(paper):
    full = {**sft_recipe(paper, "student"), "gradient_checkpointing": True}
    states = lambda est: next(v for k, v in est.parts.items() if k.startswith("weights+grads"))  # noqa: E731
    # 16 bytes a parameter: fp32 weights, gradients and AdamW's two moments
    assert states(preflight.sft_gpu_memory(7, {**full, "sharding": "none"}, 1)) == pytest.approx(16 * 7e9 / GIB)
    assert states(preflight.sft_gpu_memory(7, {**full, "sharding": "none"}, 4)) == pytest.approx(16 * 7e9 / GIB)
    assert states(preflight.sft_gpu_memory(7, {**full, "sharding": "full_shard"}, 4)) == pytest.approx(4 * 7e9 / GIB)
    # shard_grad_op (ZeRO-2): whole fp32 weights, the other 12 bytes sharded
    assert states(preflight.sft_gpu_memory(7, {**full, "sharding": "shard_grad_op"}, 4)) == pytest.approx(7 * 7e9 / GIB)
    # one GPU shards nothing
    assert states(preflight.sft_gpu_memory(7, {**full, "sharding": "full_shard"}, 1)) == pytest.approx(16 * 7e9 / GIB)
    lora = preflight.sft_gpu_memory(7, {**full, "mode": "lora", "bf16": True}, 1)
    assert lora.parts["frozen weights+LoRA"] == pytest.approx(2 * 1.02 * 7e9 / GIB)
    # checkpointing keeps far fewer activations
    no_ckpt = preflight.sft_gpu_memory(7, {**full, "gradient_checkpointing": False}, 4)
    assert no_ckpt.parts["activations"] > 5 * preflight.sft_gpu_memory(7, full, 4).parts["activations"]
    # FSDP: logits over the padded batch (response positions of different rows can span it):
    # batch x 2 max_length, fp32 logits and their gradient over Qwen2.5's vocabulary
    batch, length = full["per_device_batch_size"], full["max_length"]
    assert no_ckpt.parts["logits"] == pytest.approx(batch * 2 * length * 152_064 * 8 / GIB)
    # unsharded jobs (one GPU, LoRA, plain DDP) hold the logits of 1,024 response tokens
    # at a time (chunked loss): fp32 logits and gradient plus their bf16 copies
    chunk = 1024 * 152_064 * 12 / GIB
    assert preflight.sft_gpu_memory(7, full, 1).parts["logits"] == pytest.approx(chunk)
    assert lora.parts["logits"] == pytest.approx(chunk)
    assert preflight.sft_gpu_memory(7, {**full, "sharding": "none"}, 4).parts["logits"] == pytest.approx(chunk)
    # generation: weights split over tensor-parallel GPUs
    one, four = preflight.generation_gpu_memory(72, 1, 4096, "auto"), preflight.generation_gpu_memory(72, 4, 4096, "auto")
    assert one.parts["weights"] == pytest.approx(2 * 72e9 / GIB) == pytest.approx(4 * four.parts["weights"])


def test_shipped_paper_grid_fits_80gb_gpus(paper):
    assert paper["resources"]["gpu_mem_gb"] == 80
    assert preflight.check(paper) == []
    trained, generating, text = preflight.planned_models(paper)
    assert ("qwen2.5-7b", "student") in trained and ("llama3.1-8b", "student") in trained
    assert "qwen2.5-72b" in generating and text == {"hotpotqa", "triviaqa"}
    # the paper's 7B student, full fine-tuning on its 4 GPUs with FSDP full_shard
    est = preflight.sft_gpu_memory(7, sft_recipe(paper, "student"), 4)
    assert 30 < est.total < 80


def test_unsharded_7b_full_fine_tune_on_one_gpu_is_refused(paper):
    problems = preflight.check(edited(paper, **{"models|qwen2.5-7b|sft_gpus": 1}))
    # its Strong baseline (gold) and its student runs, one line each
    assert [p.split(":")[0] for p in problems] == ["sft of qwen2.5-7b (baseline, full, 1 GPU(s))", "sft of qwen2.5-7b (student, full, 1 GPU(s))"]
    assert "needs ~123 GB (weights+grads+AdamW (none) 104.3" in problems[0] and "gpu_mem_gb 80" in problems[0]
    # on 4 GPUs without sharding (plain DDP) every GPU still holds all of it
    problems = preflight.check(edited(paper, **{"sft|sharding": "none"}))
    assert any(p.startswith("sft of qwen2.5-7b") for p in problems)


def test_other_impossible_plans_are_named(paper):
    # the 72B summarizer on one GPU: 135 GB of bf16 weights
    [problem] = preflight.check(edited(paper, **{"models|qwen2.5-72b|gpus": 1}))
    assert problem.startswith("generation with qwen2.5-72b (tensor parallel 1)")
    assert "in stage cluster" not in problem  # clustering runs no vLLM engine
    # an effective batch 3 GPUs cannot make
    problems = preflight.check(edited(paper, **{"models|qwen2.5-7b|sft_gpus": 3}))
    assert any("on 3 GPU(s): sft.effective_batch_size=256 is not a multiple of per_device_batch_size=4 x 3 processes" in p for p in problems)
    # clustering TriviaQA's ~1.4 M responses on one CPU
    problems = preflight.check(edited(paper, **{"resources|cluster|gpus": 0}))
    assert [p.split(" responses")[0] for p in problems] == ["cluster on hotpotqa: 904500", "cluster on triviaqa: 1383900"]
    assert "~1155 min with 0 GPU(s) / 1 CPU(s)" in problems[1]
    # a summarizer context too short for the representatives it is shown
    problems = preflight.check(edited(paper, **{"stages|summarize_uncertainty|vllm": {"max_model_len": 8192}}))
    assert problems == ["stage summarize_uncertainty: prompts of up to 26936 tokens plus max_new_tokens 1024 exceed its max_model_len 8192"]


def test_each_vllm_stage_is_checked_with_its_own_engine_options(paper):
    # the summarizer's stage leaves less of the GPU to vLLM: checked with its own
    # utilization, not generation.vllm's
    [problem] = preflight.check(edited(paper, **{"stages|summarize_uncertainty|vllm|gpu_memory_utilization": 0.5}))
    assert problem.startswith("generation with qwen2.5-72b (tensor parallel 4) in stage summarize_uncertainty")
    assert "gpu_memory_utilization 0.5 x resources.gpu_mem_gb = 40 GB" in problem


def test_a_gpu_model_without_a_size_is_named(paper):
    [problem] = preflight.check(edited(paper, **{"models|qwen2.5-1.5b|size_b": 0}))
    assert problem.startswith("model qwen2.5-1.5b runs on 1 GPU(s) but has no size_b")


def test_accumulation_keeps_the_effective_batch():
    assert [accumulation_steps(16, 4, gpus) for gpus in (0, 1, 2, 4)] == [4, 4, 2, 1]
    with pytest.raises(ValueError, match="effective_batch_size=16 is not a multiple"):
        accumulation_steps(16, 4, 3)


def test_plan_stops_with_one_line(tmp_path):
    config = yaml.safe_load(PAPER.read_text())
    config["models"]["qwen2.5-7b"]["sft_gpus"] = 1
    path = tmp_path / "one_gpu.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "table3", "--configfile", str(path))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert lines == [line for line in result.stderr.splitlines() if "preflight" in line]
    assert len(lines) == 1 and lines[0].startswith("error: preflight: sft of qwen2.5-7b (baseline, full, 1 GPU(s)): needs ~123 GB")
    assert lines[0].endswith("(and 1 more)")


def _job_blocks(dry_run: str) -> list[tuple[str, dict, dict]]:
    """(rule, wildcards, resources + threads) of every job a dry run printed."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", dry_run):
        rule = re.match(r"rule (\w+):", block)
        resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        if not (rule and resources):
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.MULTILINE)
        wc = dict(p.split("=", 1) for p in wildcards[1].split(", ")) if wildcards else {}
        res = dict(p.split("=", 1) for p in resources[1].split(", "))
        threads = re.search(r"^\s+threads: (\d+)$", block, re.MULTILINE)
        res["threads"] = threads[1] if threads else "1"
        jobs.append((rule[1], wc, res))
    return jobs


def test_planned_paper_jobs_batch_threads_and_tasks(paper, tmp_path):
    """Over every job the paper grid plans: each SFT job trains with the configured
    effective batch whatever its GPUs; threads equal the CPUs asked for; GPU jobs
    are one task (tasks_per_gpu=0) holding all their GPUs."""
    result = snakemake(tmp_path, "-n", "--cores", "256", "table1", "table2", "table3", "--configfile", str(PAPER))
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = _job_blocks(result.stdout)
    sft = [(wc, res) for rule, wc, res in jobs if rule == "sft"]
    assert len(sft) > 40
    gpu_counts = set()
    for wc, res in sft:
        recipe = sft_recipe(paper, sft_role(parse_key(wc["key"]).method))
        gpus = int(res["gpu"])
        gpu_counts.add(gpus)
        steps = accumulation_steps(recipe["effective_batch_size"], recipe["per_device_batch_size"], gpus)
        assert recipe["per_device_batch_size"] * steps * gpus == recipe["effective_batch_size"] == 256, wc
    assert gpu_counts == {1, 2, 4}
    for rule, wc, res in jobs:
        if "cpus_per_task" not in res:  # the target rules table1..3 run nothing
            assert rule in paper["tables"], rule
            continue
        assert res["threads"] == res["cpus_per_task"], (rule, wc)
        if int(res.get("gpu", 0)):
            assert res["tasks_per_gpu"] == "0", (rule, wc)
    summarizer = [res for rule, _, res in jobs if rule == "summarize_uncertainty"]
    assert {(r["gpu"], r["threads"]) for r in summarizer} == {("4", "16")}


MEASURED = [ROOT / "benchmarks" / "measurements" / name for name in (
    "gpu_sft_memory-h200-2026-11-29.jsonl",
    "gpu_sft_packing-h200-2026-11-30.jsonl",  # padded against packed rows; 7B LoRA with expandable segments
    "gpu_sft_chunked-h200-2026-11-30.jsonl",  # the chunked loss (its head then in fp32), and the path before it
)]


def test_sft_estimate_covers_the_peaks_measured_on_a_gpu():
    """Real fine-tuning jobs on an H200 (benchmarks/gpu_sft_memory.py: train_sft on
    random-weight Qwen2.5/Llama-3.2 models, the paper's recipe): with the allocator the
    SFT jobs use (expandable segments), the estimate is above every measured peak
    (reserved memory plus the process's CUDA context), packed rows or padded. Rows
    measured before the chunked loss (logits at all response positions at once) are
    held to the estimate's logits term for that path, the one FSDP jobs keep."""
    import json

    rows = [json.loads(line) for path in MEASURED for line in path.read_text().splitlines()]
    checked = [r for r in rows if r["alloc_conf"] == "expandable_segments:True"
               and r["loss_path"] in ("response", "response-positions")]
    assert len(checked) == 17 and {r["mode"] for r in checked} == {"full", "lora"}
    chunked = [r for r in checked if r["loss_logits"].startswith("chunked")]
    assert {(r["family"], r["gradient_checkpointing"]) for r in chunked} == {("qwen2.5-1.5b", True),
                                                                            ("qwen2.5-0.5b", False)}
    assert any(not r["gradient_checkpointing"] for r in checked)
    assert {r.get("packing", "none") != "sdpa" for r in checked} == {True, False}
    assert any(r["size_b"] == 7.0 and r["mode"] == "lora" and r["examples"] == "worst" for r in checked)
    for r in checked:
        recipe = {"mode": r["mode"], "sharding": "none", "per_device_batch_size": r["batch"], "bf16": True,
                  "max_length": r["max_length"], "gradient_checkpointing": r["gradient_checkpointing"]}
        estimate = preflight.sft_gpu_memory(r["size_b"], recipe, 1)
        total = estimate.total
        if r not in chunked:  # logits over the batch's response positions
            total += r["batch"] * 2 * r["max_length"] * preflight.VOCAB * 8 / GIB - estimate.parts["logits"]
        measured = r["peak_reserved_gib"] + r["context_gib"]
        assert total > measured, (r["case"], str(estimate), total, measured)
