"""Text for the embedded models: the tokenizer's training corpus and the short
warm-up that teaches the tiny models the answer formats.

It is drawn from the toy generators with its own seed (``embedded.corpus_seed``),
apart from the seeds of the toy datasets themselves.
"""

from __future__ import annotations

from alice_w2s import answers
from alice_w2s.datasets import toy
from alice_w2s.datasets.prepare import normalise
from alice_w2s.datasets.registry import get_spec
from alice_w2s.prompts import Prompts

TOY_KINDS = ("toy_math", "toy_choice", "toy_trivia")


def _warmup_answer(row: dict) -> str:
    answer_type = row["answer_type"]
    if answer_type == "number":
        return row["solution"]
    if answer_type == "choice":
        return f"Option {row['answer']} fits the question best.\n" + answers.format_final("choice", row["answer"])
    return f"I recall that it is {row['answer']}.\n" + answers.format_final("text", row["answer"])


def warmup_conversations(rows_per_kind: int, seed: int, prompts: Prompts) -> list[list[dict[str, str]]]:
    """(user prompt, formatted answer) conversations across the toy kinds, interleaved."""
    per_kind = []
    for kind in TOY_KINDS:
        spec = get_spec(kind)
        frame = normalise(spec, toy.generate(kind, rows_per_kind, seed), f"corpus {kind}")
        per_kind.append(
            [
                [
                    {"role": "user", "content": prompts.question(row["answer_type"], row["question"])},
                    {"role": "assistant", "content": _warmup_answer(row)},
                ]
                for row in frame.to_dict("records")
            ]
        )
    return [conversation for group in zip(*per_kind, strict=True) for conversation in group]


def tokenizer_corpus(rows_per_kind: int, seed: int, prompts: Prompts) -> list[str]:
    """Plain texts: the turns of the warm-up conversations (byte-level BPE still
    encodes any other text)."""
    return [turn["content"] for conv in warmup_conversations(rows_per_kind, seed, prompts) for turn in conv]
