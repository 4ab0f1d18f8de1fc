"""Stage 4: proactive learning; the student writes its own labels.

Zero-shot: the untrained student answers every pool question. Synthesis: it sees
the question, its own answer and each teacher's final answer (plus, unless
ablated, the teacher's uncertainty), and keeps or improves its answer without
saying why (for numbers and choices the prompt shows an example response, as the
reference's did). The synthesized response is the training label. Where a
single teacher gave a single-cluster answer, that answer is the label as it
is; where no teacher has an answer (no cluster survived), the question gets no
label. A synthesized
response with no parsable final answer is dropped (counted as
``synthesis_unparsable``) unless ``keep_unparsable`` is set: training on it would
teach the student to end without an answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from alice_w2s.answers import extract
from alice_w2s.prompts import Prompts, user_chat

if TYPE_CHECKING:  # types only: the stage runs whatever generator it is given
    from alice_w2s.backends.generation import GenerationResult, Generator, Sampling

LABEL_COLUMNS = ["id", "question", "label", "source"]


def _present(value: object) -> bool:
    """A real string: pandas may hold a missing text as None or NaN."""
    return isinstance(value, str) and bool(value.strip())


def zero_shot(
    questions: pd.DataFrame, answer_type: str, generator: Generator, sampling: Sampling, prompts: Prompts
) -> tuple[pd.DataFrame, GenerationResult]:
    chats = [user_chat(prompts.question(answer_type, q)) for q in questions["question"]]
    result = generator.generate(chats, sampling, keys=list(questions["id"]))
    responses = [texts[0] for texts in result.texts]
    return pd.DataFrame({"id": questions["id"], "response": responses}), result


def teacher_notes(teacher_rows: list[dict], prompts: Prompts, use_uncertainty: bool) -> str:
    parts = []
    for row in teacher_rows:
        if use_uncertainty and _present(row["uncertainty"]):
            parts.append(prompts.render("synthesize_teacher.txt", teacher_answer=row["teacher_answer"], uncertainty=row["uncertainty"]))
        else:
            parts.append(prompts.render("synthesize_teacher_no_uncertainty.txt", teacher_answer=row["teacher_answer"]))
    return "\n\n".join(parts) + "\n"


def response_example(prompts: Prompts, answer_type: str) -> str:
    """The answer type's example response for the synthesis prompt, on its own line;
    an empty template (QA: the reference's QA prompt had none) adds nothing."""
    example = prompts.text(f"synthesize_example/{answer_type}.txt").strip()
    return "\n" + example if example else ""


def synthesize(
    questions: pd.DataFrame,
    answer_type: str,
    own_answers: pd.DataFrame,
    teachers: list[pd.DataFrame],
    generator: Generator,
    sampling: Sampling,
    prompts: Prompts,
    use_uncertainty: bool = True,
    keep_unparsable: bool = False,
) -> tuple[pd.DataFrame, GenerationResult | None, dict]:
    """Labels for the pool questions, and counts of where they came from."""
    own = dict(zip(own_answers["id"], own_answers["response"], strict=True))
    teacher_maps = [{row["id"]: row for row in t.to_dict("records")} for t in teachers]
    labels, chats, pending = [], [], []
    counts = {"synthesis": 0, "teacher_single_cluster": 0, "no_teacher_answer": 0, "synthesis_unparsable": 0}
    for row in questions.to_dict("records"):
        answered = [m[row["id"]] for m in teacher_maps if row["id"] in m and _present(m[row["id"]]["teacher_answer"])]
        if not answered:
            counts["no_teacher_answer"] += 1
            continue
        if len(teachers) == 1 and answered[0]["n_clusters"] == 1:
            labels.append([row["id"], row["question"], answered[0]["teacher_answer"], "teacher_single_cluster"])
            counts["teacher_single_cluster"] += 1
            continue
        prompt = prompts.render(
            "synthesize.txt",
            question=prompts.question(answer_type, row["question"]),
            own_answer=own[row["id"]],
            teacher_notes=teacher_notes(answered, prompts, use_uncertainty),
            format_instruction=prompts.text(f"format/{answer_type}.txt"),
            example=response_example(prompts, answer_type),
        )
        chats.append(user_chat(prompt))
        pending.append(row)
    result = None
    if chats:
        result = generator.generate(chats, sampling, keys=[row["id"] for row in pending])
        for row, texts in zip(pending, result.texts, strict=True):
            if extract(answer_type, texts[0]) is None:
                counts["synthesis_unparsable"] += 1
                if not keep_unparsable:
                    continue
            labels.append([row["id"], row["question"], texts[0], "synthesis"])
            counts["synthesis"] += 1
    order = {qid: i for i, qid in enumerate(questions["id"])}
    frame = pd.DataFrame(labels, columns=LABEL_COLUMNS)
    frame = frame.sort_values("id", key=lambda ids: ids.map(order), kind="stable").reset_index(drop=True)
    return frame, result, counts
