"""Evaluation: greedy answers on the eval split, scored by the dataset's registry
entry. Every item is in the denominator; an unparsable response is wrong and
counted in ``unparsed_rate``. ``accuracy`` is the paper's metric (flexible
extraction for numbers and choices; contain-match for text); beside it,
``strict_accuracy`` (only the exact closing line counts, as lm-evaluation-harness's
strict-match) and ``lenient_accuracy`` (text: raw aliases and the value too)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from alice_w2s.datasets.registry import DatasetSpec
from alice_w2s.prompts import Prompts, user_chat

if TYPE_CHECKING:  # types only: the stage runs whatever generator it is given
    from alice_w2s.backends.generation import GenerationResult, Generator, Sampling


def evaluate(
    eval_rows: pd.DataFrame, spec: DatasetSpec, generator: Generator, sampling: Sampling, prompts: Prompts
) -> tuple[pd.DataFrame, GenerationResult]:
    chats = [user_chat(prompts.question(spec.answer_type, q)) for q in eval_rows["question"]]
    result = generator.generate(chats, sampling, keys=list(eval_rows["id"]))
    return score_responses(eval_rows, spec, [texts[0] for texts in result.texts]), result


def score_responses(eval_rows: pd.DataFrame, spec: DatasetSpec, responses: list[str]) -> pd.DataFrame:
    items = []
    for row, response in zip(eval_rows.to_dict("records"), responses, strict=True):
        s = spec.score(response, row)
        items.append(
            {"id": row["id"], "response": response, "extracted": s.extracted, "gold": row["answer"],
             "parsed": s.parsed, "correct": s.correct, "exact_match": s.exact_match, "f1": s.f1,
             "strict_extracted": s.strict_extracted, "strict_correct": s.strict_correct,
             "lenient_correct": s.lenient_correct}
        )
    return pd.DataFrame(items)


def accuracy_summary(items: pd.DataFrame) -> dict:
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
        # absent from items scored before these columns existed
        **({"strict_accuracy": float(items["strict_correct"].mean()),
            "strict_unparsed_rate": float(items["strict_extracted"].isna().mean())} if "strict_correct" in items else {}),
        **({"lenient_accuracy": float(items["lenient_correct"].mean())} if "lenient_correct" in items else {}),
        "exact_match": float(items["exact_match"].mean()),
        "f1": float(items["f1"].mean()),
    }
