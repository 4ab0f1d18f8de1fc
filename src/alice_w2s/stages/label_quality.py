"""Label quality: a training set scored against the gold answers of the rows it
labels, as eval responses are scored (a module of its own, so the evaluation's
code, which decides every eval job's rerun, does not change with it)."""

from __future__ import annotations

import pandas as pd

from alice_w2s.datasets.registry import DatasetSpec
from alice_w2s.stages.evaluate import accuracy_summary, score_responses

# Alice's synthesized labels against the teacher's final answer on the same question:
# (teacher right?, label right?) -> key
SYNTHESIS_CELLS = {
    (True, True): "synthesis_both_right",
    (True, False): "synthesis_broke",  # the student changed a right teacher answer into a wrong label
    (False, True): "synthesis_fixed",  # ... a wrong teacher answer into a right label
    (False, False): "synthesis_both_wrong",
}


def final_answers(clusters: pd.DataFrame) -> pd.DataFrame:
    """(id, teacher_answer): the representative of each question's final cluster,
    the answer the teacher gives (as ``stages.summarize.teacher_answers`` reads it;
    kept here so that the summarizer's code, which decides its jobs' reruns, does not
    change with this stage)."""
    final = clusters[clusters["is_final"].astype(bool)]
    return final.rename(columns={"representative": "teacher_answer"})[["id", "teacher_answer"]]


def _correct(rows: pd.DataFrame, texts: list[str], spec: DatasetSpec) -> list[bool]:
    return score_responses(rows.reset_index(), spec, texts)["correct"].astype(bool).tolist()


def synthesis_table(
    given: pd.DataFrame, gold: pd.DataFrame, spec: DatasetSpec, teacher_finals: list[pd.DataFrame]
) -> dict[str, int]:
    """The 2x2 of Alice's synthesized labels: the teacher's final answer right or
    wrong x the label right or wrong, on the rows whose label the student wrote
    (``source == "synthesis"``). With several teachers, "right" means at least one
    teacher's final answer is. ``teacher_finals``: per teacher, (id, teacher_answer)."""
    synthesized = given[given["source"] == "synthesis"]
    table = dict.fromkeys(SYNTHESIS_CELLS.values(), 0)
    if synthesized.empty:
        return table
    ids = synthesized["id"].tolist()
    label_right = _correct(gold.loc[ids], synthesized["label"].tolist(), spec)
    teacher_right = [False] * len(ids)
    for finals in teacher_finals:
        answers = finals.set_index("id")["teacher_answer"]
        known = [i for i in ids if i in answers.index and isinstance(answers[i], str)]
        right = dict(zip(known, _correct(gold.loc[known], [answers[i] for i in known], spec), strict=True))
        teacher_right = [t or right.get(i, False) for t, i in zip(teacher_right, ids, strict=True)]
    for t, lab in zip(teacher_right, label_right, strict=True):
        table[SYNTHESIS_CELLS[(t, lab)]] += 1
    return table


def label_quality(
    labels: pd.DataFrame, gold_rows: pd.DataFrame, spec: DatasetSpec, teacher_finals: list[pd.DataFrame] | None = None
) -> dict:
    """How good a training set's labels are, scored like eval responses against the
    gold answers of the rows they label (the transfer pool's, for a student: gold
    no student is trained on). Blank labels (no cluster of agreeing samples, a skipped
    prompt) are not trained on: counted apart, not scored. For Alice's synthesized
    sets (``teacher_finals`` given), also ``synthesis_table``'s 2x2."""
    gold = gold_rows.set_index("id")
    missing = sorted(set(labels["id"]) - set(gold.index))
    if missing:
        raise ValueError(f"labels for {len(missing)} id(s) not in the gold rows, e.g. {missing[0]!r}")
    given = labels[labels["label"].fillna("").str.strip() != ""]
    quality = {
        "rows": len(labels),
        "labels": len(given),
        "sources": {str(k): int(v) for k, v in given["source"].value_counts().sort_index().items()},
        "label_accuracy": None,
        "label_accuracy_stderr": None,
        "unparsed_rate": None,
    }
    if len(given):
        scored = accuracy_summary(score_responses(gold.loc[given["id"]].reset_index(), spec, given["label"].tolist()))
        quality.update(
            label_accuracy=scored["accuracy"],
            label_accuracy_stderr=scored["accuracy_stderr"],
            unparsed_rate=scored["unparsed_rate"],
        )
    if teacher_finals is not None:
        quality.update(synthesis_table(given, gold, spec, teacher_finals))
    return quality
