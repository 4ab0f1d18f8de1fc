"""Supervised fine-tuning of a causal LM on (user prompt -> response) pairs.

The loss is taken on response tokens only (prompt positions are masked with -100).
Training goes through ``transformers.Trainer`` so the same code runs on one CPU,
one GPU, or several GPUs under ``accelerate launch``. The output directory always
holds a plain, full model (LoRA adapters are merged) that vLLM and transformers
load directly.

``fine_tune`` is what an SFT job does with its training set, the pass-through of
an empty set included; ``Recipe``'s defaults are the config schema's (``sft``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alice_w2s.chat import render_chat
from alice_w2s.io import atomic_dir
from alice_w2s.schema_defaults import section_defaults
from alice_w2s.training_curves import CURVE_COLUMNS, CURVE_FILE

IGNORE_INDEX = -100  # label value ignored by the causal-LM cross-entropy
SHARDING = ("full_shard", "shard_grad_op", "none")


def accumulation_steps(effective_batch_size: int, per_device_batch_size: int, processes: int) -> int:
    """Gradient accumulation that makes per_device x accumulation x processes equal
    the configured effective batch, whatever the job's GPU count."""
    per_step = per_device_batch_size * max(1, processes)
    if effective_batch_size % per_step:
        raise ValueError(
            f"sft.effective_batch_size={effective_batch_size} is not a multiple of "
            f"per_device_batch_size={per_device_batch_size} x {max(1, processes)} processes"
        )
    return effective_batch_size // per_step


def fsdp_arguments(recipe: Recipe, layer_classes: list[str]) -> dict[str, Any]:
    """The Trainer arguments of a sharded full fine-tune (FSDP2 through accelerate).
    Each decoder layer is its own FSDP unit; activation checkpointing goes through
    FSDP, as Trainer wants it when FSDP is on."""
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            "reshard_after_forward": recipe.sharding == "full_shard",
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "transformer_layer_cls_to_wrap": list(layer_classes),
            "activation_checkpointing": recipe.gradient_checkpointing,
            "state_dict_type": "FULL_STATE_DICT",
        },
    }


def uses_fsdp(recipe: Recipe, processes: int) -> bool:
    return recipe.mode == "full" and recipe.sharding != "none" and processes > 1


# The config schema (alice_w2s/config_schema.yaml) is the one source of the recipe's defaults (key sft).
_DEFAULT = section_defaults("sft")


@dataclass(frozen=True)
class Recipe:
    mode: str = _DEFAULT["mode"]  # "lora" or "full"
    epochs: float = _DEFAULT["epochs"]
    learning_rate: float = _DEFAULT["learning_rate"]
    weight_decay: float = _DEFAULT["weight_decay"]
    lr_scheduler: str = _DEFAULT["lr_scheduler"]
    warmup_steps: int = _DEFAULT["warmup_steps"]
    warmup_ratio: float | None = _DEFAULT["warmup_ratio"]  # when set, warm-up is this share of the run's optimizer steps
    per_device_batch_size: int = _DEFAULT["per_device_batch_size"]
    # effective batch = per_device * accum * world size; by default the schema's
    # effective_batch_size in one process
    gradient_accumulation_steps: int = accumulation_steps(
        _DEFAULT["effective_batch_size"], _DEFAULT["per_device_batch_size"], 1
    )
    max_length: int = _DEFAULT["max_length"]
    bf16: bool = _DEFAULT["bf16"]
    gradient_checkpointing: bool = _DEFAULT["gradient_checkpointing"]
    group_by_length: bool = _DEFAULT["group_by_length"]
    # Full fine-tuning in several processes: FSDP "full_shard" (parameters, gradients and
    # optimizer state sharded), "shard_grad_op" (gradients and optimizer state, like
    # ZeRO-2) or "none" (plain DDP: every process holds everything).
    sharding: str = _DEFAULT["sharding"]
    lora_r: int = _DEFAULT["lora_r"]
    lora_alpha: int = _DEFAULT["lora_alpha"]
    lora_dropout: float = _DEFAULT["lora_dropout"]
    lora_target_modules: str | list[str] = _DEFAULT["lora_target_modules"]
    seed: int = section_defaults()["seed"]

    def __post_init__(self) -> None:
        if self.mode not in ("lora", "full"):
            raise ValueError(f"Recipe.mode must be 'lora' or 'full', got {self.mode!r}")
        if self.sharding not in SHARDING:
            raise ValueError(f"Recipe.sharding must be one of {', '.join(SHARDING)}, got {self.sharding!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recipe:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(
                f"unknown SFT recipe key(s): {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(fields)}"
            )
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            # PyYAML reads "1e-5" (no dot) as a string, so coerce numeric fields.
            default = fields[key].default
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"SFT recipe key {key!r} must be a bool, got {value!r}")
            elif isinstance(default, (int, float)) and isinstance(value, str):
                value = float(value) if isinstance(default, float) else int(float(value))
            elif key == "warmup_ratio" and isinstance(value, str):
                value = float(value)
            elif key == "lora_target_modules" and not isinstance(value, str):
                value = list(value)
            kwargs[key] = value
        return cls(**kwargs)


def _flat_ids(encoded: Any) -> list[int]:
    """Normalise apply_chat_template(tokenize=True) output to a flat list of ints.

    transformers 5 returns a BatchEncoding (dict with "input_ids") by default;
    older versions return a list, possibly nested for batched input.
    """
    if isinstance(encoded, Mapping):
        encoded = encoded["input_ids"]
    if isinstance(encoded, torch.Tensor):
        encoded = encoded.tolist()
    encoded = list(encoded)
    if encoded and isinstance(encoded[0], (list, tuple)):
        if len(encoded) != 1:
            raise ValueError(f"expected a single sequence, got a batch of {len(encoded)}")
        encoded = list(encoded[0])
    return [int(t) for t in encoded]


def build_training_example_with_cuts(
    tokenizer: Any, prompt: str, response: str, max_length: int
) -> tuple[dict[str, list[int]] | None, bool, bool]:
    """``build_training_example`` plus whether the prompt and whether the response
    were cut: ``(example, prompt_truncated, response_truncated)``."""
    prompt_ids = _flat_ids(
        render_chat(tokenizer, [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True)
    )
    eos_id = tokenizer.eos_token_id
    if eos_id is None:
        raise ValueError("tokenizer has no eos token; cannot mark the end of the response")
    response_ids = list(tokenizer(response, add_special_tokens=False)["input_ids"]) + [eos_id]

    # As in the reference script: prompt and response are each cut on their own.
    kept_prompt, kept_response = prompt_ids[:max_length], response_ids[:max_length]
    prompt_truncated = len(kept_prompt) < len(prompt_ids)
    response_truncated = len(kept_response) < len(response_ids)
    if not kept_response:  # max_length < 1; the EOS makes the response never empty otherwise
        return None, prompt_truncated, response_truncated
    input_ids = kept_prompt + kept_response
    labels = [IGNORE_INDEX] * len(kept_prompt) + kept_response
    example = {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}
    return example, prompt_truncated, response_truncated


def build_training_example(
    tokenizer: Any, prompt: str, response: str, max_length: int
) -> dict[str, list[int]] | None:
    """Tokenize one (prompt, response) pair with the loss on the response only.

    Prompt ids come from the chat template (user turn + generation prompt), exactly
    as at inference time; the response ids and EOS are tokenized separately and
    appended to them, so the prompt/response boundary is exact (re-tokenizing the
    full conversation could merge tokens across it). As in the paper authors'
    reference SFT script, the prompt and the response are each cut from the right
    to ``max_length`` tokens, so a sequence is at most 2 x max_length tokens.
    Returns None when no response token survives (only when max_length < 1).
    """
    return build_training_example_with_cuts(tokenizer, prompt, response, max_length)[0]


def build_training_set(
    tokenizer: Any, examples: list[tuple[str, str]], max_length: int
) -> tuple[list[dict[str, list[int]]], dict[str, int]]:
    """The training examples of (prompt, response) pairs, and counts for the stats:
    ``n_dropped`` (no response token left), ``prompts_truncated`` and
    ``responses_truncated`` (examples whose prompt / response was cut to max_length)."""
    dataset: list[dict[str, list[int]]] = []
    counts = {"n_dropped": 0, "prompts_truncated": 0, "responses_truncated": 0}
    for prompt, response in examples:
        example, prompt_cut, response_cut = build_training_example_with_cuts(tokenizer, prompt, response, max_length)
        counts["prompts_truncated"] += prompt_cut
        counts["responses_truncated"] += response_cut
        if example is None:
            counts["n_dropped"] += 1
        else:
            dataset.append(example)
    return dataset, counts


class _PadCollator:
    """Right-pad a batch: pad id in input_ids, 0 in attention_mask, -100 in labels."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.real_tokens = 0  # over every batch made, for the padding share in the stats
        self.batch_tokens = 0

    @property
    def padding_share(self) -> float:
        return 1 - self.real_tokens / self.batch_tokens if self.batch_tokens else 0.0

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(ex["input_ids"]) for ex in batch)
        self.real_tokens += sum(len(ex["input_ids"]) for ex in batch)
        self.batch_tokens += width * len(batch)
        out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for ex in batch:
            pad = width - len(ex["input_ids"])
            out["input_ids"].append(ex["input_ids"] + [self.pad_id] * pad)
            out["attention_mask"].append(ex["attention_mask"] + [0] * pad)
            out["labels"].append(ex["labels"] + [IGNORE_INDEX] * pad)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}


def response_positions(labels: torch.Tensor) -> torch.Tensor:
    """The sequence positions whose next token is a response token in some row of
    the batch: the only positions whose logits the loss reads (position p predicts
    token p + 1)."""
    return labels[:, 1:].ne(IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)


def _takes_logits_to_keep(model: Any) -> bool:
    """Whether the causal LM under the DDP / peft wrappers takes a tensor
    ``logits_to_keep`` (Llama, Qwen2 and most current architectures in transformers)."""
    import inspect

    while hasattr(model, "module"):  # DDP
        model = model.module
    if hasattr(model, "get_base_model"):  # peft
        model = model.get_base_model()
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def response_only_loss(
    model: Any,
    inputs: Mapping[str, torch.Tensor],
    num_items_in_batch: torch.Tensor | int | None = None,
    keep_logits: bool | None = None,
) -> tuple[torch.Tensor, Any]:
    """The causal-LM loss on response tokens, with logits computed only where a
    response token is predicted (``logits_to_keep``), not over the whole padded
    batch: the prompt positions (system turn, question) need no vocabulary-wide
    logits. The same value as the model's own loss: a sum of token cross-entropies
    over ``num_items_in_batch`` (the accumulated batch's response tokens, as
    Trainer counts them), or their mean over this batch when it is None.
    The model's own forward is called, so FSDP and peft wrapping apply as usual.
    ``keep_logits``: whether the model takes ``logits_to_keep`` (None: look it up;
    a training loop passes what it found once)."""
    labels = inputs["labels"]
    positions = response_positions(labels)
    if keep_logits is None:
        keep_logits = _takes_logits_to_keep(model)
    if keep_logits:
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], logits_to_keep=positions)
        logits = outputs.logits.float()
    else:  # an architecture without it: the same loss from the full logits
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        logits = outputs.logits[:, positions].float()
    targets = labels[:, 1:][:, positions]
    total = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    count = num_items_in_batch if num_items_in_batch is not None else targets.ne(IGNORE_INDEX).sum()
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count, outputs


def write_curve(rows: list[dict[str, Any]], path: Path) -> None:
    """The training curve as CSV (``CURVE_COLUMNS``; a value Trainer did not log is empty)."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _save_atomically(
    model: Any, tokenizer: Any, generation_config: Any, out_dir: Path, curve: list[dict[str, Any]],
    state_dict: dict | None = None,
) -> None:
    """Save model, tokenizer and training curve so that a crash never leaves a
    half-written out_dir."""
    with atomic_dir(out_dir) as tmp:
        if generation_config is not None:
            model.generation_config = generation_config
        model.save_pretrained(tmp, state_dict=state_dict)  # safetensors is the only format in transformers 5
        tokenizer.save_pretrained(tmp)
        write_curve(curve, Path(tmp) / CURVE_FILE)


def train_sft(
    examples: list[tuple[str, str]], base_model: str, out_dir: str | Path, recipe: Recipe
) -> dict[str, Any]:
    """Fine-tune ``base_model`` on (prompt, response) pairs and save a full model to out_dir."""
    # Heavy imports stay local so importing this module (e.g. for Recipe) is cheap.
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        GenerationConfig,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    class ResponseLogitsTrainer(Trainer):
        """Trainer whose loss computes logits on response positions only."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, outputs = response_only_loss(model, inputs, num_items_in_batch, keep_logits)
            # Normalised over the accumulated batch when Trainer counted it, else a
            # per-batch mean that Trainer divides by the accumulation steps.
            self.loss_is_scaled_for_ga = num_items_in_batch is not None
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # the count is summed over processes, and DDP averages the gradients
                loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss

    class PeakLearningRate(TrainerCallback):
        """The largest learning rate any optimizer step used."""

        value = 0.0

        def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
            # after optimizer.step(), before the scheduler moves on: the rate this step used
            self.value = max(self.value, max(group["lr"] for group in optimizer.param_groups))

    class Curve(TrainerCallback):
        """Trainer's log of every optimizer step: loss, learning rate, grad norm."""

        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:  # the end-of-run summary logs train_loss instead
                self.rows.append({"step": state.global_step, **logs})

    if not examples:
        raise ValueError("no training examples: the example list is empty")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    set_seed(recipe.seed)

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    dataset, counts = build_training_set(tokenizer, examples, recipe.max_length)
    n_dropped = counts["n_dropped"]
    if not dataset:
        raise ValueError(
            f"no training examples left: all {n_dropped} were dropped by truncation "
            f"to max_length={recipe.max_length}"
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    use_bf16 = recipe.bf16 and torch.cuda.is_available()
    # LoRA: a bf16 base is fine (peft keeps the adapter weights in fp32). Full
    # fine-tuning keeps fp32 master weights with bf16 autocast: pure-bf16 weights
    # would silently drop updates as small as lr=1e-5 * O(1).
    load_dtype = torch.bfloat16 if use_bf16 and recipe.mode == "lora" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=load_dtype)
    try:
        generation_config = GenerationConfig.from_pretrained(base_model)
    except OSError:  # base has no generation_config.json
        generation_config = None

    if recipe.mode == "lora":
        from peft import LoraConfig, get_peft_model

        target = recipe.lora_target_modules
        model = get_peft_model(
            model,
            LoraConfig(
                task_type="CAUSAL_LM",
                r=recipe.lora_r,
                lora_alpha=recipe.lora_alpha,
                lora_dropout=recipe.lora_dropout,
                target_modules=target if isinstance(target, str) else list(target),
            ),
        )
    trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    sharded = uses_fsdp(recipe, processes)
    if sharded:
        memory_args = fsdp_arguments(recipe, sorted(model._no_split_modules or ()))
    else:
        memory_args = {"gradient_checkpointing": recipe.gradient_checkpointing}
        if recipe.gradient_checkpointing:
            memory_args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}  # works with LoRA's frozen inputs
    keep_logits = _takes_logits_to_keep(model)  # looked up once, not at every step
    peak_lr = PeakLearningRate()
    curve = Curve()
    collator = _PadCollator(pad_id)

    with tempfile.TemporaryDirectory(prefix="sft-trainer-") as trainer_dir:
        args = TrainingArguments(
            output_dir=trainer_dir,
            num_train_epochs=recipe.epochs,
            learning_rate=recipe.learning_rate,
            weight_decay=recipe.weight_decay,
            lr_scheduler_type=recipe.lr_scheduler,
            # a float in [0, 1) is a share of the run's optimizer steps
            warmup_steps=recipe.warmup_ratio if recipe.warmup_ratio is not None else recipe.warmup_steps,
            per_device_train_batch_size=recipe.per_device_batch_size,
            gradient_accumulation_steps=recipe.gradient_accumulation_steps,
            bf16=use_bf16,
            **memory_args,
            logging_steps=1,  # every optimizer step goes into the curve
            save_strategy="no",
            report_to="none",
            seed=recipe.seed,
            dataloader_pin_memory=torch.cuda.is_available(),
            remove_unused_columns=False,  # our dicts carry exactly the model inputs
            label_names=["labels"],  # peft-wrapped models hide the signature Trainer inspects
            train_sampling_strategy="group_by_length" if recipe.group_by_length else "random",
        )
        if processes == 1 and args.n_gpu > 1:
            # One process trains on one GPU. Trainer would wrap the model in
            # DataParallel over every visible GPU, which splits logits_to_keep with the
            # batch and multiplies the effective batch; several GPUs go through
            # accelerate launch (processes > 1). GPU-only: not run here.
            args._n_gpu = 1
        trainer = ResponseLogitsTrainer(
            model=model,
            args=args,
            train_dataset=dataset,  # a list is a valid map-style dataset
            data_collator=collator,
            callbacks=[peak_lr, curve],
        )
        result = trainer.train()
        accelerator = trainer.accelerator
        save_dtype = torch.bfloat16 if use_bf16 else torch.float32
        if sharded:
            # Gathering the full weights is collective: every rank takes part, rank 0 gets them.
            state = accelerator.get_state_dict(trainer.model)
            if accelerator.is_main_process:
                final = accelerator.unwrap_model(trainer.model)
                final.config.use_cache = True
                state = {k: v.to(save_dtype) for k, v in state.items()}
                _save_atomically(final, tokenizer, generation_config, out_dir, curve.rows, state_dict=state)
        elif accelerator.is_main_process:
            # trainer.model is the unwrapped module (DDP wrapping lives in model_wrapped).
            final = trainer.model
            if recipe.mode == "lora":
                final = final.merge_and_unload()
            final = final.to(save_dtype)
            final.config.use_cache = True
            _save_atomically(final, tokenizer, generation_config, out_dir, curve.rows)
        # Other ranks must not return (and e.g. read out_dir) before it is written.
        accelerator.wait_for_everyone()
        warmup = args.get_warmup_steps(trainer.state.max_steps)

    return {
        "n_examples": len(dataset),
        "n_dropped": n_dropped,
        "prompts_truncated": counts["prompts_truncated"],
        "responses_truncated": counts["responses_truncated"],
        "train_loss": float(result.training_loss),
        # a flat or diverged run shows here without opening the curve
        "first_loss": float(curve.rows[0]["loss"]) if curve.rows else None,
        "final_loss": float(curve.rows[-1]["loss"]) if curve.rows else None,
        "steps": int(result.global_step),
        "optimizer_steps": int(result.global_step),
        "warmup_steps": int(warmup),
        "peak_learning_rate": peak_lr.value,
        "effective_batch_size": recipe.per_device_batch_size * recipe.gradient_accumulation_steps * processes,
        "gradient_accumulation_steps": recipe.gradient_accumulation_steps,
        "processes": processes,
        "sharding": ("fsdp-" + recipe.sharding) if sharded else "none",
        "gradient_checkpointing": recipe.gradient_checkpointing,
        "group_by_length": recipe.group_by_length,
        "loss_logits": "response positions" if keep_logits else "all positions (no logits_to_keep)",
        "padding_share": round(collator.padding_share, 4),
        "seconds": round(time.perf_counter() - started, 3),
        "trainable_params": int(trainable_params),
        "total_params": int(total_params),
        "mode": recipe.mode,
    }


# --- the SFT job ---------------------------------------------------------------------

EXPANDABLE_SEGMENTS = "expandable_segments:True"


def prefer_expandable_segments() -> None:
    """Have PyTorch's CUDA allocator grow segments instead of caching fixed blocks, in
    this process and the training processes it starts, unless the user set the
    allocator. Batches of different lengths fragment the default allocator: measured
    on an H200 (benchmarks/gpu_sft_memory.py, docs/gpu-and-slurm.md "Verified on a GPU"), a Qwen2.5-1.5B
    LoRA job reserved 36.7 GiB for 18.7 allocated, and stalls of ~2 s (most likely the
    allocator freeing its cache and retrying; not profiled) took half the training time
    of a 0.5B job; with expandable segments 21.4 GiB and no stalls. No effect without a GPU."""
    if "PYTORCH_ALLOC_CONF" not in os.environ:  # the newer name, read first by torch >= 2.9
        os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", EXPANDABLE_SEGMENTS)


def fine_tune(
    pairs: list[tuple[str, str | None]],
    base_model: str,
    out_dir: str | Path,
    settings: Mapping[str, Any],
    seed: int,
    processes: int,
    source: str,
) -> dict[str, Any]:
    """What an SFT job does with its (prompt, label) pairs, read from ``source``:

    - a pair whose label is missing or blank is no example;
    - fewer examples than ``settings["min_examples"]`` stop the job;
    - no example at all (allowed only with ``min_examples: 0``, the embedded
      default) trains nothing: the base model is copied through unchanged;
    - otherwise ``processes`` data-parallel processes (one per GPU) train it, with the
      gradient accumulation that keeps the configured ``effective_batch_size``.

    ``settings`` is the role's SFT recipe from the config (``Recipe`` keys plus
    ``min_examples`` and ``effective_batch_size``)."""
    examples = [(prompt, label) for prompt, label in pairs if isinstance(label, str) and label.strip()]
    settings = dict(settings)
    min_examples = settings.pop("min_examples")
    if len(examples) < min_examples:
        raise ValueError(f"{source}: {len(examples)} training examples, fewer than sft.min_examples={min_examples}")
    if not examples:
        logging.getLogger("alice_w2s").warning("no training examples in %s: passing the base model through", source)
        with atomic_dir(out_dir) as tmp:
            shutil.copytree(base_model, tmp, dirs_exist_ok=True)
        return {"n_examples": 0, "passthrough": True}
    prefer_expandable_segments()
    processes = max(1, int(processes))
    effective = settings.pop("effective_batch_size")
    settings["gradient_accumulation_steps"] = accumulation_steps(effective, settings["per_device_batch_size"], processes)
    recipe = Recipe.from_dict({**settings, "seed": seed})
    return train_sft_launched(examples, base_model, out_dir, recipe, processes=processes)


# --- several processes (GPUs) ---------------------------------------------------------


def train_sft_launched(
    examples: list[tuple[str, str]], base_model: str, out_dir: str | Path, recipe: Recipe, processes: int, cpu: bool = False
) -> dict:
    """``train_sft`` in ``processes`` data-parallel processes through ``accelerate
    launch`` (one per GPU; ``cpu=True`` runs them on the CPU, for tests). With one
    process it trains in this process."""
    if processes <= 1:
        return train_sft(examples, base_model, out_dir, recipe)
    import dataclasses
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="alice-sft-") as scratch:
        spec_path, stats_path = Path(scratch) / "spec.json", Path(scratch) / "stats.json"
        spec = {
            "examples": examples,
            "base_model": base_model,
            "out_dir": str(out_dir),
            "recipe": dataclasses.asdict(recipe),
            "stats_path": str(stats_path),
        }
        spec_path.write_text(json.dumps(spec))
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
        # torchrun in both cases: `accelerate launch --cpu` would start one process only.
        command += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        command += ["-m", "alice_w2s.backends.sft", str(spec_path)]
        env = {**os.environ, "ACCELERATE_USE_CPU": "true"} if cpu else None  # gloo instead of NCCL
        subprocess.run(command, check=True, env=env)
        return {**json.loads(stats_path.read_text()), "processes": processes}


def _launched_main(spec_path: str) -> None:
    """Entry point of each process started by ``train_sft_launched``."""
    import json

    spec = json.loads(Path(spec_path).read_text())
    examples = [tuple(pair) for pair in spec["examples"]]
    stats = train_sft(examples, spec["base_model"], spec["out_dir"], Recipe(**spec["recipe"]))
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        Path(spec["stats_path"]).write_text(json.dumps(stats))


if __name__ == "__main__":
    import sys

    _launched_main(sys.argv[1])
