"""One registry entry per dataset: where it comes from, how a record becomes a row,
how its answers are parsed and scored, and which prompt template asks its questions.

The CoT filter, the clustering and the evaluation all go through ``DatasetSpec``,
so a dataset's answer format is defined here and nowhere else.

Normalised row (what ``results/data/{dataset}/*.parquet`` holds):
``id, question, answer, aliases, solution, answer_type`` where ``question`` is
rendered (ARC choices appended as ``A. ...`` lines), ``answer`` is the canonical
gold (number string, choice letter, or text), ``aliases`` extra accepted text
answers, ``solution`` a human worked solution (GSM8K) or null.
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

    def extract(self, response: str | None) -> str | None:
        return answers.extract(self.answer_type, response)

    def score(self, response: str | None, row: Row) -> answers.Score:
        aliases = row.get("aliases")  # a numpy array once read back from Parquet
        return answers.score(self.answer_type, response, row["answer"], [] if aliases is None else list(aliases))

    def qa_label(self, row: Row) -> str:
        """The bare-answer label (Q-A format) for a row."""
        return answers.format_final(self.answer_type, row["answer"])

    def cot_label(self, row: Row) -> str | None:
        """The human worked solution as a label, if the dataset has one."""
        return row.get("solution")


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
        "solution": None,
    }


def _hotpotqa(record: dict, position: int) -> Row:
    return {
        "id": str(record.get("id") or f"hotpotqa-{position:06d}"),
        "question": record["question"].strip(),
        "answer": record["answer"].strip(),
        "aliases": [],
        "solution": None,
    }


def _triviaqa(record: dict, position: int) -> Row:
    answer = record["answer"]
    aliases = list(dict.fromkeys([*answer.get("aliases", []), *answer.get("normalized_aliases", [])]))
    return {
        "id": str(record.get("question_id") or f"triviaqa-{position:06d}"),
        "question": record["question"].strip(),
        "answer": answer["value"].strip(),
        "aliases": [a for a in aliases if a and a != answer["value"]],
        "solution": None,
    }


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("gsm8k", "number", _gsm8k, "openai/gsm8k", "main", "train", "test", has_human_cot=True),
        DatasetSpec("arc_challenge", "choice", _arc, "allenai/ai2_arc", "ARC-Challenge", "train", "test"),
        DatasetSpec("hotpotqa", "text", _hotpotqa, "hotpotqa/hotpot_qa", "fullwiki", "train", "validation"),
        DatasetSpec("triviaqa", "text", _triviaqa, "mandarjoshi/trivia_qa", "rc", "train", "validation"),
        # Embedded stand-ins: the same normalisers, records made by datasets.toy.
        DatasetSpec("toy_math", "number", _gsm8k, has_human_cot=True),
        DatasetSpec("toy_choice", "choice", _arc),
        DatasetSpec("toy_trivia", "text", _triviaqa),
    ]
}


def get_spec(kind: str) -> DatasetSpec:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r}; registered: {', '.join(sorted(REGISTRY))}") from None
