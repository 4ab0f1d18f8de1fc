"""Evaluation: greedy answers on the eval split, scored by the dataset's registry
entry. Every item is in the denominator; an unparsable response is wrong and
counted in ``unparsed_rate``."""

from __future__ import annotations

import math

import pandas as pd

from alice_w2s.backends.generation import Generator, GenerationResult, Sampling
from alice_w2s.datasets.registry import DatasetSpec
from alice_w2s.prompts import Prompts, user_chat


def evaluate(
    eval_rows: pd.DataFrame, spec: DatasetSpec, generator: Generator, sampling: Sampling, prompts: Prompts
) -> tuple[pd.DataFrame, GenerationResult]:
    chats = [user_chat(prompts.question(spec.answer_type, q)) for q in eval_rows["question"]]
    result = generator.generate(chats, sampling)
    return score_responses(eval_rows, spec, [texts[0] for texts in result.texts]), result


def score_responses(eval_rows: pd.DataFrame, spec: DatasetSpec, responses: list[str]) -> pd.DataFrame:
    items = []
    for row, response in zip(eval_rows.to_dict("records"), responses, strict=True):
        s = spec.score(response, row)
        items.append(
            {"id": row["id"], "response": response, "extracted": s.extracted, "gold": row["answer"],
             "parsed": s.parsed, "correct": s.correct, "exact_match": s.exact_match, "f1": s.f1}
        )
    return pd.DataFrame(items)


def summarize(items: pd.DataFrame) -> dict:
    """Accuracy with its standard error, unparsed rate, and the stricter QA metrics."""
    n = len(items)
    if n == 0:
        raise ValueError("evaluation produced no items")
    accuracy = float(items["correct"].mean())
    return {
        "n": n,
        "accuracy": accuracy,
        "accuracy_stderr": math.sqrt(accuracy * (1 - accuracy) / n),
        "unparsed_rate": float(1 - items["parsed"].mean()),
        "exact_match": float(items["exact_match"].mean()),
        "f1": float(items["f1"].mean()),
    }
