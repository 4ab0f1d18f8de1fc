"""Supervised fine-tuning of a causal LM on (user prompt -> response) pairs.

The loss is taken on response tokens only (prompt positions are masked with -100).
Training goes through ``transformers.Trainer`` so the same code runs on one CPU,
one GPU, or several GPUs under ``accelerate launch``. The output directory always
holds a plain, full model (LoRA adapters are merged) that vLLM and transformers
load directly.

``Recipe``'s defaults are the config schema's (``sft``). Examples are made and
batched in ``backends.sft_examples``; what an SFT job does with its training set
(the pass-through of an empty set, several GPUs) is ``backends.sft_launch``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alice_w2s.backends.sft_examples import IGNORE_INDEX, PadCollator, build_training_set
from alice_w2s.backends.sft_packing import PackCollator, packing_cost, unwrapped
from alice_w2s.effective_batch import LOSS_CHUNK, accumulation_steps, fsdp_sharded
from alice_w2s.io import atomic_dir
from alice_w2s.schema_defaults import section_defaults
from alice_w2s.training_curves import CURVE_COLUMNS, CURVE_FILE

SHARDING = ("full_shard", "shard_grad_op", "none")


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
    return fsdp_sharded(recipe.mode, recipe.sharding, processes)


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
    packing: bool = _DEFAULT["packing"]  # padding-free rows where the attention takes them (backends.sft_packing)
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


def response_positions(labels: torch.Tensor) -> torch.Tensor:
    """The sequence positions whose next token is a response token in some row of
    the batch: the only positions whose logits the loss reads (position p predicts
    token p + 1)."""
    return labels[:, 1:].ne(IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)


def _takes_logits_to_keep(model: Any) -> bool:
    """Whether the causal LM under the DDP / peft wrappers takes a tensor
    ``logits_to_keep`` (Llama, Qwen2 and most current architectures in transformers)."""
    import inspect

    return "logits_to_keep" in inspect.signature(unwrapped(model).forward).parameters


# How response_only_loss gets its logits (the manifest's ``loss_logits``).
CHUNKED = "chunked at response tokens"
RESPONSE_POSITIONS = "response positions"
ALL_POSITIONS = "all positions (no logits_to_keep)"
# Architectures whose LM head is a plain linear map of the last hidden state, checked
# against the model's own loss in tests/test_sft_packing.py; Gemma 2's soft-capped
# logits, say, are not, and keep the model's own head.
CHUNKED_HEAD_MODELS = ("qwen2", "llama", "gemma3_text", "gpt2")


def loss_path(model: Any, sharded: bool) -> str:
    """``CHUNKED``: the LM head applied outside the model's forward to the response
    tokens' last hidden states, ``LOSS_CHUNK`` at a time, so peak memory no longer
    grows with vocabulary x tokens; not for FSDP (``sharded``: the head's weight is
    gathered only inside the forward) or an architecture not in
    ``CHUNKED_HEAD_MODELS``. Else ``RESPONSE_POSITIONS`` (the model's head, on the
    positions where some row has a response token) or, for a model without
    ``logits_to_keep``, ``ALL_POSITIONS``."""
    if not _takes_logits_to_keep(model):
        return ALL_POSITIONS
    base = unwrapped(model)
    head = base.get_output_embeddings()
    plain_head = type(head) is torch.nn.Linear  # a LoRA-wrapped head is not
    # the model's own type (a multimodal Gemma 3 is "gemma3", not its text part's "gemma3_text")
    if not sharded and plain_head and base.config.model_type in CHUNKED_HEAD_MODELS and \
            getattr(base.config.get_text_config(), "final_logit_softcapping", None) is None:
        return CHUNKED
    return RESPONSE_POSITIONS


def _chunk_loss(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor) -> torch.Tensor:
    logits = torch.nn.functional.linear(hidden, weight, bias).float()
    return torch.nn.functional.cross_entropy(logits, targets, reduction="sum")


def chunked_cross_entropy(hidden: torch.Tensor, head: torch.nn.Linear, targets: torch.Tensor,
                          chunk: int | None = None) -> torch.Tensor:
    """The summed cross-entropy of ``head(hidden)`` against ``targets`` (no ignored
    entries), ``chunk`` rows of logits at a time: each chunk's logits are dropped
    after its loss and recomputed in the backward pass (activation checkpointing)."""
    from torch.utils.checkpoint import checkpoint

    chunk = chunk or LOSS_CHUNK
    if not torch.is_autocast_enabled(hidden.device.type):
        # the head's own dtype, as inside the model (accelerate hands hidden states
        # back in fp32 from a bf16 model); under autocast the matmul casts both
        hidden = hidden.to(head.weight.dtype)
    total = None
    for start in range(0, len(targets), chunk):
        part = checkpoint(_chunk_loss, hidden[start:start + chunk], head.weight, head.bias,
                          targets[start:start + chunk], use_reentrant=False)
        total = part if total is None else total + part
    return total


def autocast_loss(
    accelerator: Any, model: Any, inputs: Mapping[str, torch.Tensor], num_items_in_batch: Any, path: str
) -> tuple[torch.Tensor, Any]:
    """``response_only_loss`` under the accelerator's mixed precision, as Trainer
    trains. accelerate puts autocast around the model's forward only, and the
    chunked path applies the LM head outside it: without this the head ran in fp32
    on a GPU (1.4x slower steps) and failed on a bf16 LoRA base (measured on an H200)."""
    with accelerator.autocast():
        return response_only_loss(model, inputs, num_items_in_batch, path)


def response_only_loss(
    model: Any,
    inputs: Mapping[str, torch.Tensor],
    num_items_in_batch: torch.Tensor | int | None = None,
    path: str | None = None,
) -> tuple[torch.Tensor, Any]:
    """The causal-LM loss on response tokens, without the logits of the prompt
    positions (system turn, question) and, on the ``CHUNKED`` path, without all of
    the response's logits at once (``loss_path``). The same value as the model's own
    loss: a sum of token cross-entropies over ``num_items_in_batch`` (the accumulated
    batch's response tokens, as Trainer counts them), or their mean over this batch
    when it is None. The model's own forward is called, so FSDP, DDP and peft
    wrapping apply as usual. ``path``: None looks it up (for an unsharded model); a
    training loop passes what it found once."""
    labels = inputs["labels"]
    positions = response_positions(labels)
    targets = labels[:, 1:][:, positions]
    if path is None:
        path = loss_path(model, sharded=False)
    model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    if "position_ids" in model_inputs:
        # packed rows: transformers reads the packing from the position ids only
        # without a cache (a model in train mode with use_cache on would make one)
        model_inputs["use_cache"] = False
    if path == CHUNKED:
        # the last hidden state (after the final norm) of every position; the head's
        # own logits for one position only
        outputs = model(**model_inputs, logits_to_keep=1, output_hidden_states=True)
        keep = targets.ne(IGNORE_INDEX)
        hidden = outputs.hidden_states[-1][:, positions][keep]
        total = chunked_cross_entropy(hidden, unwrapped(model).get_output_embeddings(), targets[keep])
    else:
        if path == RESPONSE_POSITIONS:
            outputs = model(**model_inputs, logits_to_keep=positions)
            logits = outputs.logits.float()
        else:  # an architecture without logits_to_keep: the same loss from the full logits
            outputs = model(**model_inputs)
            logits = outputs.logits[:, positions].float()
        total = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
    count = num_items_in_batch if num_items_in_batch is not None else targets.ne(IGNORE_INDEX).sum()
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count, outputs


def _packing_stats(collator: PadCollator, attention: str) -> dict[str, Any]:
    """What the manifest says of packing: ``packing`` is the attention implementation
    the rows were packed for, or why batches were padded instead."""
    if not isinstance(collator, PackCollator):
        return {"packing": f"none: {attention}"}
    return {"packing": attention, "batches": collator.batches, "packed_batches": collator.packed_batches,
            "rows_per_batch": round(collator.rows / collator.batches, 2) if collator.batches else 0.0}


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
            loss, outputs = autocast_loss(self.accelerator, model, inputs, num_items_in_batch, logits_path)
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
    logits_path = loss_path(model, sharded)  # looked up once, not at every step
    if sharded:
        memory_args = fsdp_arguments(recipe, sorted(model._no_split_modules or ()))
    else:
        memory_args = {"gradient_checkpointing": recipe.gradient_checkpointing}
        if recipe.gradient_checkpointing:
            memory_args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}  # works with LoRA's frozen inputs
    peak_lr = PeakLearningRate()
    curve = Curve()
    cost, attention = packing_cost(model) if recipe.packing else (None, "off in the recipe")
    collator = PackCollator(pad_id, cost) if cost is not None else PadCollator(pad_id)

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
        "loss_logits": logits_path,
        "padding_share": round(collator.padding_share, 4),
        **_packing_stats(collator, attention),
        "seconds": round(time.perf_counter() - started, 3),
        "trainable_params": int(trainable_params),
        "total_params": int(total_params),
        "mode": recipe.mode,
    }


# --- the SFT job ---------------------------------------------------------------------
