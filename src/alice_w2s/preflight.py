"""Plan-time checks of what the config asks of the hardware, before any job runs.

Each estimate is rough arithmetic on the config alone (no model is downloaded):
a model is described by its ``size_b``, so architecture details (width, depth,
vocabulary, KV heads) come from rules of thumb for Qwen2.5/Llama-3-style decoders,
chosen to over- rather than underestimate. The point is to stop plans that cannot
fit (a 7B full fine-tune without sharding on one 80 GB GPU needs ~120 GB) with one
line, not to predict peak memory to the gigabyte.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from alice_w2s import pipeline, plan
from alice_w2s.datasets.registry import get_spec
from alice_w2s.effective_batch import LOSS_CHUNK, accumulation_steps, fsdp_sharded
from alice_w2s.run_settings import model_gpus, sft_recipe, split_sizes, stage_engine

GIB = 2**30
# Per parameter, full fine-tuning with fp32 master weights (bf16 autocast): weights 4,
# gradients 4, AdamW's two moments 8 bytes.
FULL_STATE_BYTES = 16
VOCAB = 152_064  # Qwen2.5's vocabulary, the largest of the paper's families
CUDA_OVERHEAD_GB = 4.0  # CUDA context, NCCL buffers, allocator fragmentation
VLLM_RUNTIME_GB = 2.0  # vLLM's activations / sampler workspace besides weights and KV cache
KV_BYTES_PER_TOKEN_PER_B = 16 * 1024  # bf16 K and V per token, per billion parameters (GQA models use less)
# Clustering free text embeds every response of the pool with MiniLM. Measured here:
# 11 texts/s on one busy CPU thread for ~200-token responses; taken as 20 per CPU.
# The GPU rate is assumed, not measured (no GPU here).
EMBED_PER_CPU_S = 20
EMBED_PER_GPU_S = 2000
RESPONSE_BYTES = 4096  # a stored response (512 tokens ~ 2 KB of text) plus its embedding and pandas overhead
PROMPT_TOKENS = 256  # a question and its template, at least
# Activation bytes per token, hidden unit and layer of a fine-tuning job under bf16
# autocast over fp32 master weights. Measured on an H200 (benchmarks/gpu_sft_memory.py,
# docs/gpu-and-slurm.md "Verified on a GPU"): ~85 without checkpointing on Qwen2.5-0.5B (norms and
# the residual stream run in fp32, the MLP is 5.4x the width), where the rule of
# thumb for pure bf16 says 34; rounded up. With checkpointing each layer keeps its
# fp32 input.
ACTIVATION_BYTES = 96
CHECKPOINTED_INPUT_BYTES = 4


def width_depth(size_b: float) -> float:
    """hidden size x layers of a decoder of ``size_b`` billion parameters, from the
    Qwen2.5/Llama 3 line (7B: 3584 x 28 = 1.0e5; 72B: 8192 x 80 = 6.6e5), rounded up."""
    return 1.15e5 * (size_b / 7) ** 0.7


@dataclass(frozen=True)
class Estimate:
    parts: dict[str, float]  # GB each

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def __str__(self) -> str:
        return f"~{self.total:.0f} GB (" + ", ".join(f"{k} {v:.1f}" for k, v in self.parts.items()) + ")"


def sft_gpu_memory(size_b: float, recipe: dict, gpus: int) -> Estimate:
    """Memory of one GPU of a fine-tuning job with ``gpus`` processes."""
    params = size_b * 1e9
    n = max(1, gpus)
    if recipe["mode"] == "full":
        sharding = recipe["sharding"] if n > 1 else "none"
        if sharding == "full_shard":
            states = FULL_STATE_BYTES * params / n
        elif sharding == "shard_grad_op":  # weights whole on each GPU, the rest sharded
            states = 4 * params + (FULL_STATE_BYTES - 4) * params / n
        else:
            states = FULL_STATE_BYTES * params
        label = f"weights+grads+AdamW ({sharding})"
    else:  # LoRA: a frozen base in bf16 (fp32 without it); adapters are small
        states = (2 if recipe["bf16"] else 4) * params * 1.02
        label = "frozen weights+LoRA"
    # the prompt and the response are each cut to max_length: a sequence is at most twice it
    tokens = recipe["per_device_batch_size"] * 2 * recipe["max_length"]
    hl = width_depth(size_b)
    if recipe["gradient_checkpointing"]:
        # each layer's input is kept, one layer (width ~ sqrt(128 hl)) is recomputed at a time
        activations = tokens * (CHECKPOINTED_INPUT_BYTES * hl + ACTIVATION_BYTES * math.sqrt(128 * hl))
    else:
        activations = tokens * ACTIVATION_BYTES * hl
    # fp32 logits and their gradient, with their bf16 copies under autocast. Unsharded,
    # the loss holds the logits of LOSS_CHUNK response tokens at a time
    # (backends/sft.py, chunked_cross_entropy, for the architectures its loss_path
    # chunks: Qwen2 and Llama among them, the decoders this estimate's rules of thumb
    # are for; another architecture, e.g. Gemma 2, keeps the batch's logits and is
    # underestimated by up to the FSDP term below); with FSDP the head runs inside the
    # model's forward, at every position where some row of the batch has a response
    # token, and with prompts of different lengths those can span the whole sequence.
    if fsdp_sharded(recipe["mode"], recipe.get("sharding", "none"), n):
        logits = tokens * VOCAB * 8
    else:
        logits = min(tokens, LOSS_CHUNK) * VOCAB * 12
    return Estimate({label: states / GIB, "activations": activations / GIB, "logits": logits / GIB, "overhead": CUDA_OVERHEAD_GB})


def sft_host_memory_gb(size_b: float, recipe: dict, gpus: int) -> float:
    """Host RAM of a fine-tuning job: each process loads the whole base model first
    (fp32 for full fine-tuning, bf16 for LoRA), plus a few GB of its own."""
    per_process = size_b * 1e9 * (4 if recipe["mode"] == "full" or not recipe["bf16"] else 2) / GIB
    return max(1, gpus) * (per_process + 2)


def model_folder_mb(size_b: float, bf16: bool) -> int:
    """Disk a model folder's weights take, in MB (10^6 bytes): 2 bytes a parameter
    in bf16, 4 in fp32. Fine-tuning saves bf16 only where it trains in bf16 (a GPU and
    ``sft.bf16``, backends/sft.py); the converted and derived base models are fp32.
    The tokenizer and config files add a few MB."""
    return math.ceil(size_b * 1e3 * (2 if bf16 else 4))


def generation_gpu_memory(size_b: float, tensor_parallel: int, max_model_len: int, dtype: str) -> Estimate:
    """Memory of one GPU of a vLLM job: its share of the weights, room for one
    sequence of max_model_len in the KV cache (vLLM refuses to start without it),
    and the engine's working memory."""
    weight_bytes = 4 if dtype in ("float32", "float") else 2
    tp = max(1, tensor_parallel)
    weights = size_b * 1e9 * weight_bytes / tp
    kv = max_model_len * KV_BYTES_PER_TOKEN_PER_B * size_b / tp
    return Estimate({"weights": weights / GIB, "KV cache for one sequence": kv / GIB, "runtime": VLLM_RUNTIME_GB})


def transfer_rows(dataset: dict) -> int | None:
    """Rows of a dataset's transfer pool where the config tells (toy sizes, known hub
    sets, or transfer_max_rows); None where only the data would."""
    if dataset["source"] == "toy":
        train = dataset["toy"]["n_train"]
    elif dataset["source"] == "hub" and get_spec(dataset["kind"]).hub_train_rows:
        train = get_spec(dataset["kind"]).hub_train_rows
    else:
        return dataset.get("transfer_max_rows")
    return split_sizes(train, dataset)[1]


def cluster_needs(responses: int, cpus: int, gpus: int) -> tuple[float, float]:
    """(memory GB, runtime minutes) to embed and cluster ``responses`` texts."""
    rate = EMBED_PER_GPU_S * gpus if gpus else EMBED_PER_CPU_S * cpus
    return 1 + responses * RESPONSE_BYTES / GIB, 2 + responses / rate / 60


# --- which jobs the tables plan --------------------------------------------------------

def planned_models(config: dict) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(model, SFT role) pairs trained, models that generate, and the free-text
    datasets the tables cluster, from the tables' model keys."""
    trained, generating, text_datasets = set(), set(), set()
    uses_summarizer = False
    for table in config["tables"].values():
        for dataset, key in plan.cell_models(plan.table_cells(table)):
            parsed = plan.parse_key(key)
            generating.update(parsed.base_models)
            if parsed.is_base:
                continue
            trained.add((parsed.name, plan.sft_role(parsed.method)))
            if parsed.is_student:
                trained.update((t, "teacher") for t in parsed.first_teachers)  # @teacher-cot
                trained.update((mid, "student") for mid in parsed.chain[1:-1])  # earlier links
                uses_summarizer |= parsed.uses_uncertainty
                if get_spec(config["datasets"][dataset]["kind"]).answer.clusters_by_embedding:
                    text_datasets.add(dataset)
    if uses_summarizer and config.get("summarizer"):
        generating.add(config["summarizer"])
    return trained, generating, text_datasets


# --- the checks ------------------------------------------------------------------------


def _gpu_mem(config: dict, model: str) -> float:
    res = config["resources"]
    return res["gpu_mem_gb_by_model"].get(model, res["gpu_mem_gb"])


def check(config: dict) -> list[str]:
    """Every problem found, one line each, naming the model or dataset, the stage and
    the numbers."""
    problems = []
    models, res = config["models"], config["resources"]
    trained, generating, text_datasets = planned_models(config)

    for name, role in sorted(trained):
        model = models[name]
        recipe = sft_recipe(config, role)
        gpus = model_gpus(model, training=True)
        try:
            accumulation_steps(recipe["effective_batch_size"], recipe["per_device_batch_size"], gpus)
        except ValueError as err:
            problems.append(f"sft of {name} ({role}) on {max(1, gpus)} GPU(s): {err}")
        if gpus == 0 or model["source"] == "tiny":
            continue  # CPU jobs: nothing to fit on a GPU
        need, have = sft_gpu_memory(model["size_b"], recipe, gpus), _gpu_mem(config, name)
        if need.total > have:
            problems.append(
                f"sft of {name} ({role}, {recipe['mode']}, {gpus} GPU(s)): needs {need} per GPU, "
                f"more than resources.gpu_mem_gb {have:g}"
            )
        host = sft_host_memory_gb(model["size_b"], recipe, gpus)
        asked = res["sft"]["mem_gb"] + res["sft"]["mem_gb_per_b"] * model["size_b"]
        if host > asked:
            problems.append(
                f"sft of {name} ({role}, {gpus} process(es)): loading needs ~{host:.0f} GB of host memory, "
                f"resources.sft asks for {asked:g} GB"
            )

    # Each model is checked in every stage that runs vLLM, with that stage's engine
    # options (the summarizer's long context included): any model may run in any.
    for name in sorted(generating):
        model = models[name]
        if model_gpus(model) == 0 or model["source"] == "tiny":
            continue  # on CPU; a served model generates on no GPU of ours (its server's business)
        if not model["size_b"]:
            problems.append(
                f"model {name} runs on {model['gpus']} GPU(s) but has no size_b: its memory cannot be checked "
                f"and its memory and runtime requests are not scaled; set models.{name}.size_b (billions)"
            )
            continue
        for stage in pipeline.GENERATING:
            backend, engine = stage_engine(config, stage, model["gpus"])
            if backend != "vllm":
                continue
            tp = engine["tensor_parallel_size"]
            need = generation_gpu_memory(model["size_b"], tp, engine["max_model_len"], engine["dtype"])
            budget = engine["gpu_memory_utilization"] * _gpu_mem(config, name)
            if need.total > budget:
                problems.append(
                    f"generation with {name} (tensor parallel {tp}) in stage {stage} (max_model_len "
                    f"{engine['max_model_len']}): needs {need} per GPU, more than gpu_memory_utilization "
                    f"{engine['gpu_memory_utilization']:g} x resources.gpu_mem_gb = {budget:.0f} GB"
                )
                break  # one line per model

    problems += _context_problems(config)

    cluster = res["cluster"]
    cpus = res["cpus_per_gpu"] * cluster["gpus"] if cluster["gpus"] else res["cpus"]
    for dataset in sorted(text_datasets):
        rows = transfer_rows(config["datasets"][dataset])
        if rows is None:
            continue
        responses = rows * config["stages"]["sample"]["k"]
        mem, minutes = cluster_needs(responses, cpus, cluster["gpus"])
        if mem > cluster["mem_gb"] or minutes > cluster["runtime_min"]:
            problems.append(
                f"cluster on {dataset}: {responses} responses ({rows} questions x K) need ~{mem:.0f} GB and "
                f"~{minutes:.0f} min with {cluster['gpus']} GPU(s) / {cpus} CPU(s); resources.cluster asks for "
                f"{cluster['mem_gb']:g} GB and {cluster['runtime_min']} min"
            )
    return problems


def _context_problems(config: dict) -> list[str]:
    """The longest prompt each generating stage can get (a question, plus what earlier
    stages wrote into it) and its answer must fit the stage's max_model_len. Longer
    prompts would be skipped, and their questions lost."""
    stages = config["stages"]
    sample, summarize = stages["sample"]["max_new_tokens"], stages["summarize_uncertainty"]["max_new_tokens"]
    keys = [plan.parse_key(k) for t in config["tables"].values() for _, k in plan.cell_models(plan.table_cells(t))]
    teachers = max((len(k.first_teachers) for k in keys if k.is_alice), default=1)
    # representatives as the summarizer shows them: at most max_representatives, each
    # cut to max_representative_chars (~3 characters a token, to be safe)
    shown = stages["summarize_uncertainty"].get("max_representatives") or stages["sample"]["k"] // 2
    chars = stages["summarize_uncertainty"].get("max_representative_chars")
    representative = min(sample, math.ceil(chars / 3)) if chars else sample
    # what a stage's prompt holds beyond the question (and its instructions)
    added = {
        "summarize_uncertainty": shown * representative,
        # each teacher's answer and uncertainty, the student's own answer
        "synthesize": teachers * (sample + summarize) + stages["zeroshot"]["max_new_tokens"],
    }
    prompt = {stage: PROMPT_TOKENS + added.get(stage, 0) for stage in pipeline.GENERATING}
    problems = []
    for stage, tokens in prompt.items():
        backend, engine = stage_engine(config, stage, 0)
        limit = engine.get("max_model_len")
        total = tokens + stages[stage]["max_new_tokens"]
        if backend == "vllm" and total > limit:
            problems.append(
                f"stage {stage}: prompts of up to {tokens} tokens plus max_new_tokens "
                f"{stages[stage]['max_new_tokens']} exceed its max_model_len {limit}"
            )
    return problems


def preflight_or_exit(config: dict) -> None:
    """Stop the plan with one line on the first problem (and how many more there are)."""
    problems = check(config)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        sys.exit(f"error: preflight: {problems[0]}{more}")
