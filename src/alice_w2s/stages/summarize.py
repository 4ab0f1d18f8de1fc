"""Stage 3c: put the teacher's uncertainty into words.

A large instruct model reads the question and the numbered cluster
representatives and writes, in the first person, what the teacher is unsure
about (or ``N/A``). The prompt is the answer type's (``summarize/<type>.txt``:
instructions and one worked example, as the reference had one for QA/ARC and
one for GSM8K), and lists the representatives as the reference did: in the
order their clusters were found, one line apart. Questions with a single
cluster skip the summarizer: their uncertainty stays null and the teacher's
final response will become the student's label directly. Questions with no
cluster have no teacher answer.

The prompt must fit the summarizer's context, so it holds at most
``max_representatives`` representatives (the largest clusters, still listed
in the order they were found; the reference shows all), and a representative
longer than ``max_representative_chars`` keeps its first and last halves of
that budget around ``[...]`` (its opening reasoning and its final answer). A
prompt that still does not fit is skipped by the backend; its question keeps a
null uncertainty. All three are counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from alice_w2s.prompts import Prompts, user_chat

if TYPE_CHECKING:  # types only: the stage runs whatever generator it is given
    from alice_w2s.backends.generation import GenerationResult, Generator, Sampling

COLUMNS = ["id", "question", "teacher_answer", "n_clusters", "uncertainty"]


TRUNCATION_MARK = " [...] "


def shorten(text: str, max_chars: int | None) -> str:
    """``text`` cut to its first and last halves of ``max_chars`` characters."""
    if max_chars is None or len(text) <= max_chars:
        return text
    head = max_chars // 2
    return text[:head].rstrip() + TRUNCATION_MARK + text[len(text) - (max_chars - head) :].lstrip()


def teacher_answers(
    questions: pd.DataFrame,
    clusters: pd.DataFrame,
    max_representatives: int | None = None,
    max_representative_chars: int | None = None,
    counts: dict | None = None,
    listing: bool = True,
) -> tuple[list[list], dict[int, str]]:
    """Per question: [id, question, final answer, cluster count, None], and (unless
    ``listing`` is off) the numbered cluster representatives of the questions with
    several clusters (row position -> text), which are the ones worth summarizing."""
    counts = {} if counts is None else counts
    counts.update(representatives_dropped=0, representatives_truncated=0)
    by_question = {qid: group.sort_values("cluster_idx") for qid, group in clusters.groupby("id", sort=False)}
    rows, several = [], {}
    for row in questions.to_dict("records"):
        group = by_question.get(row["id"])
        if group is None:
            rows.append([row["id"], row["question"], None, 0, None])
            continue
        final = group.loc[group["is_final"], "representative"].iloc[0]
        rows.append([row["id"], row["question"], final, len(group), None])
        if listing and len(group) > 1:
            largest = group.iloc[:max_representatives]  # cluster_idx ranks by size
            # greedy clustering finds clusters in the order of their reference
            # response, so listing by that response's index is discovery order
            shown = largest.sort_values("representative_idx", kind="stable")["representative"].tolist()
            counts["representatives_dropped"] += len(group) - len(shown)
            cut = [shorten(text, max_representative_chars) for text in shown]
            counts["representatives_truncated"] += sum(a != b for a, b in zip(cut, shown, strict=True))
            several[len(rows) - 1] = "\n".join(f"{i + 1}. {text}" for i, text in enumerate(cut))
    return rows, several


def teacher_table(questions: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """The teacher's final answers with no uncertainty (the w/o-uncertainty ablation)."""
    rows, _ = teacher_answers(questions, clusters, listing=False)
    return pd.DataFrame(rows, columns=COLUMNS)


def summarize_uncertainty(
    questions: pd.DataFrame,
    answer_type: str,
    clusters: pd.DataFrame,
    generator: Generator | None,
    sampling: Sampling,
    prompts: Prompts,
    max_representatives: int | None = None,
    max_representative_chars: int | None = None,
) -> tuple[pd.DataFrame, GenerationResult | None, dict]:
    """The uncertainty table, the generation result, and counts of what the
    prompt limits cut (``representatives_dropped``, ``representatives_truncated``)
    and of prompts the backend skipped as too long (``summaries_skipped``)."""
    counts: dict = {}
    rows, several = teacher_answers(questions, clusters, max_representatives, max_representative_chars, counts)
    counts["summaries_skipped"] = 0
    result = None
    if several:
        if generator is None:
            raise ValueError("questions with several clusters need a summarizer")
        positions = list(several)
        chats = [
            user_chat(prompts.render(f"summarize/{answer_type}.txt", question=rows[p][1], responses=several[p])) for p in positions
        ]
        result = generator.generate(chats, sampling, keys=[rows[p][0] for p in positions])
        counts["summaries_skipped"] = result.skipped_prompts
        for position, texts in zip(positions, result.texts, strict=True):
            # a skipped prompt's empty response: no statement, not an empty one
            rows[position][4] = texts[0].strip() or None
    return pd.DataFrame(rows, columns=COLUMNS), result, counts
