"""Stage 3c: put the teacher's uncertainty into words.

A large instruct model reads the question and the numbered cluster
representatives and writes, in the first person, what the teacher is unsure
about (or ``N/A``). Questions with a single cluster skip the summarizer: their
uncertainty stays null and the teacher's final response will become the
student's label directly. Questions with no cluster have no teacher answer.
"""

from __future__ import annotations

import pandas as pd

from alice_w2s.backends.generation import Generator, GenerationResult, Sampling
from alice_w2s.prompts import Prompts, user_chat

COLUMNS = ["id", "question", "teacher_answer", "n_clusters", "uncertainty"]


def teacher_answers(questions: pd.DataFrame, clusters: pd.DataFrame) -> tuple[list[list], dict[int, str]]:
    """Per question: [id, question, final answer, cluster count, None], and the
    numbered cluster representatives of the questions with several clusters
    (row position -> text), which are the ones worth summarizing."""
    by_question = {qid: group.sort_values("cluster_idx") for qid, group in clusters.groupby("id", sort=False)}
    rows, several = [], {}
    for row in questions.to_dict("records"):
        group = by_question.get(row["id"])
        if group is None:
            rows.append([row["id"], row["question"], None, 0, None])
            continue
        final = group.loc[group["is_final"], "representative"].iloc[0]
        rows.append([row["id"], row["question"], final, len(group), None])
        if len(group) > 1:
            several[len(rows) - 1] = "\n\n".join(f"{i + 1}. {text}" for i, text in enumerate(group["representative"]))
    return rows, several


def teacher_table(questions: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """The teacher's final answers with no uncertainty (the w/o-uncertainty ablation)."""
    rows, _ = teacher_answers(questions, clusters)
    return pd.DataFrame(rows, columns=COLUMNS)


def summarize_uncertainty(
    questions: pd.DataFrame, clusters: pd.DataFrame, generator: Generator | None, sampling: Sampling, prompts: Prompts
) -> tuple[pd.DataFrame, GenerationResult | None]:
    rows, several = teacher_answers(questions, clusters)
    result = None
    if several:
        if generator is None:
            raise ValueError("questions with several clusters need a summarizer")
        positions = list(several)
        chats = [
            user_chat(prompts.render("summarize.txt", question=rows[p][1], responses=several[p])) for p in positions
        ]
        result = generator.generate(chats, sampling)
        for position, texts in zip(positions, result.texts, strict=True):
            rows[position][4] = texts[0].strip()
    return pd.DataFrame(rows, columns=COLUMNS), result
