"""Stage 3b: cluster each question's K responses, greedily.

Take the first unassigned response as reference; every unassigned response
similar to it joins its cluster; repeat. The answer type says what similar means
(``AnswerType.clusters_by_embedding``): cosine similarity of embeddings above
``threshold`` (free text), else the same answer key (numbers, choices; responses
with no answer are dropped). The key is the flexibly extracted answer
(``answer_key="extracted"``) or, as the reference, the raw text after the first
closing marker (``"marker_text"``: "B." and "B. dry palms." then differ). Singleton clusters are discarded.
Each cluster's representative is its reference response; the teacher's final
response is the representative of the largest cluster (earliest on ties).

Unlike the reference, every response is embedded once and clustering runs on
the similarity matrix. With an instruction, each question's responses are
encoded after that question's instruction (Instructor-style).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from alice_w2s.answers import AnswerType, get_answer_type
from alice_w2s.backends.embedding import Embedder

COLUMNS = ["id", "cluster_idx", "size", "representative", "representative_idx", "answer", "is_final", "n_samples"]


def greedy_clusters(n: int, similar: Callable[[int, int], bool]) -> list[list[int]]:
    """Greedy reference clustering over items ``0..n-1``, in order."""
    unassigned = list(range(n))
    clusters = []
    while unassigned:
        reference = unassigned[0]
        members = [i for i in unassigned if i == reference or similar(reference, i)]
        clusters.append(members)
        taken = set(members)
        unassigned = [i for i in unassigned if i not in taken]
    return clusters


def clusters_by_answer(answers: Sequence[str | None]) -> list[list[int]]:
    """Clusters of equal extracted answers; responses with no answer take no part."""
    kept = [i for i, a in enumerate(answers) if a is not None]
    groups = greedy_clusters(len(kept), lambda r, i: answers[kept[r]] == answers[kept[i]])
    return [[kept[i] for i in group] for group in groups]


def answer_keys(group: pd.DataFrame, kind: AnswerType, answer_key: str) -> list[str | None]:
    """What answer-match clustering compares, per response (None: takes no part)."""
    if answer_key == "extracted":
        return group["extracted"].tolist()
    if answer_key == "marker_text":
        return [kind.marker_text(text) for text in group["response"]]
    raise ValueError(f"stages.cluster.answer_key must be 'extracted' or 'marker_text', got {answer_key!r}")


def clusters_by_similarity(embeddings: np.ndarray, threshold: float) -> list[list[int]]:
    similarity = embeddings @ embeddings.T
    return greedy_clusters(len(embeddings), lambda r, i: bool(similarity[r, i] > threshold))


def _rows_for_question(qid: str, group: pd.DataFrame, clusters: list[list[int]]) -> list[list]:
    kept = sorted((c for c in clusters if len(c) > 1), key=len, reverse=True)  # stable: earliest wins ties
    responses = group["response"].tolist()
    sample_ids = group["sample_idx"].tolist()
    extracted = group["extracted"].tolist()
    return [
        [qid, rank, len(members), responses[members[0]], sample_ids[members[0]], extracted[members[0]], rank == 0, len(group)]
        for rank, members in enumerate(kept)
    ]


def cluster_samples(
    samples: pd.DataFrame,
    questions: pd.DataFrame,
    answer_type: str | AnswerType,
    *,
    threshold: float | None = None,
    embedder: Embedder | None = None,
    instruction: str = "",
    answer_key: str = "extracted",
) -> pd.DataFrame:
    """One row per kept cluster; questions whose clusters are all singletons get no row."""
    samples = samples.sort_values(["id", "sample_idx"], kind="stable")
    groups = {qid: group for qid, group in samples.groupby("id", sort=False)}
    rows: list[list] = []
    kind = get_answer_type(answer_type)
    if not kind.clusters_by_embedding:
        for qid in questions["id"]:
            if qid in groups:
                group = groups[qid]
                rows += _rows_for_question(qid, group, clusters_by_answer(answer_keys(group, kind, answer_key)))
    else:
        if embedder is None or threshold is None:
            raise ValueError("clustering by embedding (free text) needs an embedder and a threshold")
        question_text = dict(zip(questions["id"], questions["question"], strict=True))
        ordered = [(qid, groups[qid]) for qid in questions["id"] if qid in groups]
        if instruction:  # one instruction per question: one encoder call per question
            blocks = [
                embedder.encode(group["response"].fillna("").tolist(), instruction.format(question=question_text[qid]))
                for qid, group in ordered
            ]
        else:  # all questions' responses in one call
            vectors = embedder.encode([text for _, group in ordered for text in group["response"].fillna("")])
            ends = np.cumsum([len(group) for _, group in ordered])
            blocks = np.split(vectors, ends[:-1]) if len(ordered) else []
        for (qid, group), block in zip(ordered, blocks, strict=True):
            # An empty response (a skipped prompt, a model that stopped at once) commits
            # to no answer, as an unparsed number does: it joins no cluster. K empty
            # strings would otherwise agree with each other and become the label.
            answered = [i for i, text in enumerate(group["response"].fillna("")) if text.strip()]
            clusters = clusters_by_similarity(block[answered], threshold)
            rows += _rows_for_question(qid, group, [[answered[i] for i in members] for members in clusters])
    return pd.DataFrame(rows, columns=COLUMNS)


def cluster_stats(clusters: pd.DataFrame, n_questions: int) -> dict:
    per_question = clusters.groupby("id").size()
    return {
        "questions": n_questions,
        "questions_with_clusters": int(per_question.size),
        "questions_without_clusters": int(n_questions - per_question.size),
        "single_cluster_questions": int((per_question == 1).sum()),
        "clusters": int(len(clusters)),
        "mean_clusters_per_question": float(per_question.mean()) if per_question.size else 0.0,
        "mean_cluster_size": float(clusters["size"].mean()) if len(clusters) else 0.0,
    }
