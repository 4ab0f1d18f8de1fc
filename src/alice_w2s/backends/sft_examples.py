"""Training examples for SFT: (user prompt, response) pairs tokenized with the loss
on the response only, and right-padded batches of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from alice_w2s.chat import render_chat

IGNORE_INDEX = -100  # label value ignored by the causal-LM cross-entropy


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


class PadCollator:
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
