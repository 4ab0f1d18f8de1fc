"""The SFT rules that fine-tuning (``backends.sft``) and the plan-time preflight
must agree on: the effective batch on any number of GPUs, when a job is sharded
with FSDP, and how many response tokens' logits the loss holds at once. Kept out of
``backends/sft.py`` so the preflight need not import torch."""

from __future__ import annotations

# Response tokens whose logits exist at once on the chunked loss path (backends.sft):
# 1,024 x Qwen2.5's 152k vocabulary is 0.6 GB of fp32 logits, as much for their gradient.
LOSS_CHUNK = 1024


def fsdp_sharded(mode: str, sharding: str, processes: int) -> bool:
    """Whether a fine-tuning job shards its model with FSDP: full fine-tuning in
    several processes with sharding other than "none" (LoRA and one process never)."""
    return mode == "full" and sharding != "none" and processes > 1


def accumulation_steps(effective_batch_size: int, per_device_batch_size: int, processes: int) -> int:
    """Gradient accumulation that makes per_device x accumulation x processes equal
    the configured effective batch, whatever the job's GPU count (0 GPUs: one process)."""
    per_step = per_device_batch_size * max(1, processes)
    if effective_batch_size % per_step:
        raise ValueError(
            f"sft.effective_batch_size={effective_batch_size} is not a multiple of "
            f"per_device_batch_size={per_device_batch_size} x {max(1, processes)} processes"
        )
    return effective_batch_size // per_step
