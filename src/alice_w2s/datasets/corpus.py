"""Text for the tiny models: the tokenizer's training corpus and the short
warm-up that teaches the tiny models the answer formats.

It is drawn from the toy kinds the registry marks ``warmup_corpus``, with its own
seed (``tiny.corpus_seed``), apart from the seeds of the toy datasets
themselves; each answer is written as its answer type's ``warmup_answer``.
"""

from __future__ import annotations

from alice_w2s.datasets import toy
from alice_w2s.datasets.prepare import normalise
from alice_w2s.datasets.registry import REGISTRY
from alice_w2s.prompts import Prompts


def warmup_conversations(rows_per_kind: int, seed: int, prompts: Prompts) -> list[list[dict[str, str]]]:
    """(user prompt, formatted answer) conversations across the warm-up kinds, interleaved."""
    per_kind = []
    for spec in [s for s in REGISTRY.values() if s.warmup_corpus]:
        frame = normalise(spec, toy.generate(spec.name, rows_per_kind, seed), f"corpus {spec.name}")
        per_kind.append(
            [
                [
                    {"role": "user", "content": prompts.question(spec.answer_type, row["question"])},
                    {"role": "assistant", "content": spec.answer.warmup_answer(row)},
                ]
                for row in frame.to_dict("records")
            ]
        )
    return [conversation for group in zip(*per_kind, strict=True) for conversation in group]


def tokenizer_corpus(rows_per_kind: int, seed: int, prompts: Prompts) -> list[str]:
    """Plain texts: the turns of the warm-up conversations (byte-level BPE still
    encodes any other text)."""
    return [turn["content"] for conv in warmup_conversations(rows_per_kind, seed, prompts) for turn in conv]
