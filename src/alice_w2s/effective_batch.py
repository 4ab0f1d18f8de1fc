"""The one rule that keeps an SFT recipe's effective batch on any number of GPUs:
fine-tuning (``backends.sft``) and the plan-time preflight both ask it. Kept out of
``backends/sft.py`` so the preflight need not import torch."""

from __future__ import annotations


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
