"""Stage 3a: K responses per transfer question from the fine-tuned teacher,
one request per question with ``n = K``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from alice_w2s.datasets.registry import DatasetSpec
from alice_w2s.prompts import Prompts, user_chat

if TYPE_CHECKING:  # types only: the stage runs whatever generator it is given
    from alice_w2s.backends.generation import GenerationResult, Generator, Sampling

COLUMNS = ["id", "sample_idx", "response", "extracted"]


def sample_responses(
    questions: pd.DataFrame, spec: DatasetSpec, generator: Generator, sampling: Sampling, prompts: Prompts
) -> tuple[pd.DataFrame, GenerationResult]:
    chats = [user_chat(prompts.question(spec.answer_type, q)) for q in questions["question"]]
    result = generator.generate(chats, sampling, keys=list(questions["id"]))
    rows = [
        [qid, idx, text, spec.extract(text)]
        for qid, texts in zip(questions["id"], result.texts, strict=True)
        for idx, text in enumerate(texts)
    ]
    return pd.DataFrame(rows, columns=COLUMNS), result
