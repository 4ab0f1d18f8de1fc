"""One registry entry per dataset: where it comes from, how a record becomes a row,
how its answers are parsed and scored, and which prompt template asks its questions.

The CoT filter, the clustering and the evaluation all go through ``DatasetSpec``,
so a dataset's answer format is defined here and nowhere else.

Normalised row (what ``results/data/{dataset}/*.parquet`` holds):
``id, question, answer, aliases, lenient_aliases, solution, answer_type`` where
``question`` is rendered (ARC choices appended as ``A. ...`` lines), ``answer`` is
the canonical gold (number string, choice letter, or text), ``aliases`` the
strings the paper's contain-match accepts besides it (TriviaQA: the record's
``normalized_aliases``, which replace ``answer`` there), ``lenient_aliases`` the
further strings only the lenient metric accepts (TriviaQA's raw aliases),
``solution`` a human worked solution (GSM8K) or null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alice_w2s import answers

Row = dict


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    answer_type: str  # "number" | "choice" | "text"
    normalize: Callable[[dict, int], Row]  # hub-shaped record, position -> normalised row
    hub_id: str | None = None
    hub_config: str | None = None
    train_split: str = "train"
    eval_split: str = "test"
    has_human_cot: bool = False  # GSM8K: teacher CoT data comes from the human solutions
    # The paper's contain-match golds: "answer" (the gold, HotpotQA) or "aliases"
    # (TriviaQA: the normalised aliases only, as the reference scores).
    contain_match: str = "answer"
    # Record field naming the question, for `dedupe_questions` (TriviaQA repeats it).
    question_key: str | None = None
    # Record fields the normaliser reads: hub and Parquet loads keep only these
    # (TriviaQA's evidence texts are many GB).
    fields: tuple[str, ...] | None = None

    def extract(self, response: str | None, strict: bool = False) -> str | None:
        return answers.extract(self.answer_type, response, strict)

    def score(self, response: str | None, row: Row) -> answers.Score:
        aliases, lenient = _strings(row.get("aliases")), _strings(row.get("lenient_aliases"))
        contain = aliases if self.contain_match == "aliases" else [row["answer"]]
        return answers.score(
            self.answer_type, response, row["answer"], aliases, contain_golds=contain, lenient_aliases=lenient
        )

    def qa_label(self, row: Row) -> str:
        """The bare-answer label (Q-A format) for a row."""
        return answers.format_final(self.answer_type, row["answer"])

    def cot_label(self, row: Row) -> str | None:
        """The human worked solution as a label, if the dataset has one."""
        return row.get("solution")


def _strings(values: object) -> list[str]:
    """A list column read back from Parquet is a numpy array, or None/NaN when absent."""
    if values is None or isinstance(values, float):
        return []
    return [str(v) for v in values]


# --- normalisers: hub record shape -> normalised row ---------------------------------


def _gsm8k(record: dict, position: int) -> Row:
    solution = record["answer"]
    gold = answers.extract("number", solution)
    if gold is None:
        raise ValueError(f"gsm8k record {position}: no '#### <number>' line in its answer")
    body = solution.rsplit("####", 1)[0].strip()
    return {
        "id": record.get("id") or f"gsm8k-{position:06d}",
        "question": record["question"].strip(),
        "answer": gold,
        "aliases": [],
        "lenient_aliases": [],
        # The label ends with our own closing line, which equals the hub's '#### n'.
        "solution": f"{body}\n{answers.format_final('number', gold)}",
    }


def _arc(record: dict, position: int) -> Row:
    labels = [str(label) for label in record["choices"]["label"]]
    texts = record["choices"]["text"]
    # Some ARC records use 1-4 instead of A-D: map to letters so every row reads alike.
    letters = [chr(ord("A") + i) for i in range(len(labels))]
    key = str(record["answerKey"])
    if key not in labels:
        raise ValueError(f"arc record {position}: answerKey {key!r} not among labels {labels}")
    lines = [f"{letter}. {text}" for letter, text in zip(letters, texts, strict=True)]
    return {
        "id": str(record.get("id") or f"arc-{position:06d}"),
        "question": record["question"].strip() + "\n" + "\n".join(lines),
        "answer": letters[labels.index(key)],
        "aliases": [],
        "lenient_aliases": [],
        "solution": None,
    }


def _hotpotqa(record: dict, position: int) -> Row:
    return {
        "id": str(record.get("id") or f"hotpotqa-{position:06d}"),
        "question": record["question"].strip(),
        "answer": record["answer"].strip(),
        "aliases": [],
        "lenient_aliases": [],
        "solution": None,
    }


def _triviaqa(record: dict, position: int) -> Row:
    answer = record["answer"]
    value = answer["value"].strip()
    # The reference's metric: a normalised alias inside the lower-cased response.
    normalized = [a for a in dict.fromkeys(_strings(answer.get("normalized_aliases"))) if a.strip()]
    if not normalized:
        normalized = [str(answer.get("normalized_value") or value.lower())]
    raw = [a for a in dict.fromkeys(_strings(answer.get("aliases"))) if a.strip() and a not in normalized]
    # The hub's rc config holds most questions twice (web and Wikipedia evidence)
    # under one question_id: the id is made unique by position.
    question_id = record.get("question_id") or "triviaqa"
    return {
        "id": f"{question_id}#{position}",
        "question": record["question"].strip(),
        "answer": value,
        "aliases": normalized,
        "lenient_aliases": raw,
        "solution": None,
    }


TRIVIAQA_FIELDS = ("question", "question_id", "answer")

REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("gsm8k", "number", _gsm8k, "openai/gsm8k", "main", "train", "test", has_human_cot=True),
        DatasetSpec("arc_challenge", "choice", _arc, "allenai/ai2_arc", "ARC-Challenge", "train", "test"),
        DatasetSpec("hotpotqa", "text", _hotpotqa, "hotpotqa/hotpot_qa", "fullwiki", "train", "validation"),
        # rc.nocontext: the rc rows without their evidence texts (many GB).
        DatasetSpec("triviaqa", "text", _triviaqa, "mandarjoshi/trivia_qa", "rc.nocontext", "train", "validation",
                    contain_match="aliases", question_key="question_id", fields=TRIVIAQA_FIELDS),
        # Embedded stand-ins: the same normalisers, records made by datasets.toy.
        DatasetSpec("toy_math", "number", _gsm8k, has_human_cot=True),
        DatasetSpec("toy_choice", "choice", _arc),
        DatasetSpec("toy_trivia", "text", _triviaqa, contain_match="aliases", question_key="question_id",
                    fields=TRIVIAQA_FIELDS),
        # Facts a small pretrained model can partly know (datasets.facts).
        DatasetSpec("toy_arithmetic", "number", _gsm8k, has_human_cot=True),
        DatasetSpec("toy_categories", "choice", _arc),
        DatasetSpec("toy_facts", "text", _triviaqa, contain_match="aliases", question_key="question_id",
                    fields=TRIVIAQA_FIELDS),
    ]
}


def get_spec(kind: str) -> DatasetSpec:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r}; registered: {', '.join(sorted(REGISTRY))}") from None
