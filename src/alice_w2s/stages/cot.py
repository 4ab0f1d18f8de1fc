"""Stage 1: the teacher's chain-of-thought data, by rejection sampling (STaR).

The base teacher answers each teacher-half question zero-shot with brief
step-by-step reasoning, ``tries`` samples per question in one request; the first
sample whose final answer matches gold is kept. Datasets with human worked
solutions (GSM8K) use those instead and need no generation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from alice_w2s.datasets.registry import DatasetSpec
from alice_w2s.prompts import Prompts, user_chat

if TYPE_CHECKING:  # types only: the stage runs whatever generator it is given
    from alice_w2s.backends.generation import GenerationResult, Generator, Sampling

COLUMNS = ["id", "question", "response", "extracted", "correct", "tries_used", "source"]


def human_cot(teacher_half: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    rows = []
    for row in teacher_half.to_dict("records"):
        solution = spec.cot_label(row)
        if solution is None:
            raise ValueError(f"{spec.name}: row {row['id']} has no human solution")
        rows.append([row["id"], row["question"], solution, row["answer"], True, 0, "human"])
    return pd.DataFrame(rows, columns=COLUMNS)


def rejection_sample(
    teacher_half: pd.DataFrame, spec: DatasetSpec, generator: Generator, sampling: Sampling, prompts: Prompts
) -> tuple[pd.DataFrame, GenerationResult]:
    """One row per question: the first correct try, or the first try if none is correct."""
    chats = [
        # per answer type: the reference limits QA reasoning to 1-3 sentences, not ARC's
        user_chat(prompts.render(f"cot/{spec.answer_type}.txt", question_prompt=prompts.question(spec.answer_type, q)))
        for q in teacher_half["question"]
    ]
    result = generator.generate(chats, sampling, keys=list(teacher_half["id"]))
    rows = []
    for row, tries in zip(teacher_half.to_dict("records"), result.texts, strict=True):
        scores = [spec.score(text, row) for text in tries]
        hit = next((i for i, s in enumerate(scores) if s.correct), None)
        pick = 0 if hit is None else hit
        rows.append(
            [row["id"], row["question"], tries[pick], scores[pick].extracted, hit is not None,
             len(tries) if hit is None else hit + 1, "rejection_sampling"]
        )
    return pd.DataFrame(rows, columns=COLUMNS), result
