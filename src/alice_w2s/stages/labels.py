"""Training sets that need no student: teacher Q-CoT-A / Q-A, gold baselines,
and original W2SG (the teacher answers each pool question once).

Every training set has the columns ``id, question, label, source``; the SFT
stage turns ``question`` into the dataset's user prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from alice_w2s.datasets.registry import DatasetSpec
from alice_w2s.prompts import Prompts, user_chat

if TYPE_CHECKING:  # types only: the stage runs whatever generator it is given
    from alice_w2s.backends.generation import GenerationResult, Generator, Sampling

COLUMNS = ["id", "question", "label", "source"]


def teacher_cot_set(cot: pd.DataFrame) -> pd.DataFrame:
    """Q-CoT-A: the CoT responses that reached the gold answer."""
    kept = cot[cot["correct"]]
    return pd.DataFrame({"id": kept["id"], "question": kept["question"], "label": kept["response"], "source": kept["source"]})


def teacher_qa_rows(teacher_half: pd.DataFrame, questions: str, cot: pd.DataFrame | None = None) -> pd.DataFrame:
    """The teacher-half rows the Q-A teacher trains on: all of them (``teacher_half``,
    the paper's "Q-A pairs from the first half"), or those whose CoT survived the
    filter (``cot_survivors``, the reference's SFT.py; for GSM8K, whose CoT is human,
    that is every row, as there)."""
    if questions == "teacher_half":
        return teacher_half
    if questions != "cot_survivors":
        raise ValueError(f"stages.teacher_qa.questions must be 'teacher_half' or 'cot_survivors', got {questions!r}")
    if cot is None:
        raise ValueError("stages.teacher_qa.questions: cot_survivors needs the CoT filter's output")
    survived = set(cot.loc[cot["correct"].astype(bool), "id"])
    return teacher_half[teacher_half["id"].isin(survived)].reset_index(drop=True)


def qa_set(rows: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Q-A: question -> the bare final answer in the dataset's closing format."""
    labels = [spec.qa_label(row) for row in rows.to_dict("records")]
    return pd.DataFrame({"id": rows["id"], "question": rows["question"], "label": labels, "source": "gold_answer"})


def gold_set(transfer: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Weak/Strong baselines: the transfer half's gold (human CoT where it exists)."""
    if spec.has_human_cot:
        labels = [spec.cot_label(row) for row in transfer.to_dict("records")]
        return pd.DataFrame({"id": transfer["id"], "question": transfer["question"], "label": labels, "source": "gold_cot"})
    return qa_set(transfer, spec)


def w2s_set(
    questions: pd.DataFrame, spec: DatasetSpec, teacher: Generator, sampling: Sampling, prompts: Prompts
) -> tuple[pd.DataFrame, GenerationResult]:
    """Original W2SG: the student learns the teacher's single answer to each question."""
    chats = [user_chat(prompts.question(spec.answer_type, q)) for q in questions["question"]]
    result = teacher.generate(chats, sampling, keys=list(questions["id"]))
    labels = [texts[0] for texts in result.texts]
    return pd.DataFrame({"id": questions["id"], "question": questions["question"], "label": labels, "source": "teacher"}), result
