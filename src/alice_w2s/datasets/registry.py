"""One registry entry per dataset kind: where it comes from (hub id and splits, or
a toy generator), how a record becomes a row, and its answer type (``answers``:
how answers are parsed, scored and clustered, and which prompt templates ask its
questions).

Everything else asks this registry: config validation (which kinds exist, which
are toys), data preparation and toy generation, the tiny models' warm-up
corpus, the CoT filter, clustering, labels and evaluation. A new kind is one
``register(DatasetSpec(...))`` call (the built-in kinds are registered at the end
of this module).

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

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from alice_w2s import answers

Row = dict


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    answer_type: str  # a name in answers.ANSWER_TYPES: "number" | "choice" | "text" | one registered there
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
    # Records of the hub's train split, for the plan-time preflight's estimates.
    hub_train_rows: int | None = None
    # Toy kinds (config source "toy"): a function (n, seed) -> n hub-shaped records,
    # the same for the same seed; or its "module:function" name, imported when
    # called, so that jobs which make no toy data do not run (or hash) the
    # generators. None: a real dataset (source "hub" or "local").
    toy: Callable[[int, int], list[dict]] | str | None = None
    # The tiny models' tokenizer corpus and format warm-up draw from this kind.
    warmup_corpus: bool = False

    @property
    def answer(self) -> answers.AnswerType:
        """The answer type: extraction, closing line, scoring, clustering."""
        return answers.get_answer_type(self.answer_type)

    @property
    def is_toy(self) -> bool:
        return self.toy is not None

    def toy_records(self, n: int, seed: int) -> list[dict]:
        """``n`` hub-shaped records from the toy generator, the same for the same seed."""
        if self.toy is None:
            raise ValueError(f"dataset kind {self.name!r} has no toy generator")
        generate = self.toy
        if isinstance(generate, str):
            module, _, function = generate.partition(":")
            generate = getattr(importlib.import_module(module), function)
        return generate(n, seed)

    def extract(self, response: str | None, strict: bool = False) -> str | None:
        return self.answer.extract(response, strict)

    def score(self, response: str | None, row: Row) -> answers.Score:
        aliases, lenient = _strings(row.get("aliases")), _strings(row.get("lenient_aliases"))
        contain = aliases if self.contain_match == "aliases" else [row["answer"]]
        return self.answer.score(response, row["answer"], aliases, contain_golds=contain, lenient_aliases=lenient)

    def qa_label(self, row: Row) -> str:
        """The bare-answer label (Q-A format) for a row."""
        return self.answer.format_final(row["answer"])

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
    gold = answers.NUMBER.extract(solution)
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
        "solution": f"{body}\n{answers.NUMBER.format_final(gold)}",
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
# The toy generators, by name (see DatasetSpec.toy).
_TOY = "alice_w2s.datasets.toy:"
_FACTS = "alice_w2s.datasets.facts:"

REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset kind; config validation, data preparation, the stages and the
    rules all find it here by name. Its answer type must be registered already
    (``answers.register_answer_type``)."""
    if spec.name in REGISTRY and REGISTRY[spec.name] != spec:
        raise ValueError(f"dataset kind {spec.name!r} is registered already")
    answers.get_answer_type(spec.answer_type)  # an unknown answer type fails here, not in a job
    if spec.contain_match not in ("answer", "aliases"):
        raise ValueError(f"dataset kind {spec.name!r}: contain_match must be 'answer' or 'aliases'")
    REGISTRY[spec.name] = spec
    return spec


for _spec in [
    DatasetSpec("gsm8k", "number", _gsm8k, "openai/gsm8k", "main", "train", "test", has_human_cot=True,
                hub_train_rows=7473),
    DatasetSpec("arc_challenge", "choice", _arc, "allenai/ai2_arc", "ARC-Challenge", "train", "test", hub_train_rows=1119),
    DatasetSpec("hotpotqa", "text", _hotpotqa, "hotpotqa/hotpot_qa", "fullwiki", "train", "validation",
                hub_train_rows=90447),
    # rc.nocontext: the rc rows without their evidence texts (many GB).
    DatasetSpec("triviaqa", "text", _triviaqa, "mandarjoshi/trivia_qa", "rc.nocontext", "train", "validation",
                contain_match="aliases", question_key="question_id", fields=TRIVIAQA_FIELDS, hub_train_rows=138384),
    # Embedded stand-ins: the same normalisers, records made by datasets.toy; the
    # tiny models' tokenizer corpus and warm-up come from these three.
    DatasetSpec("toy_math", "number", _gsm8k, has_human_cot=True, toy=_TOY + "math_records", warmup_corpus=True),
    DatasetSpec("toy_choice", "choice", _arc, toy=_TOY + "choice_records", warmup_corpus=True),
    DatasetSpec("toy_trivia", "text", _triviaqa, contain_match="aliases", question_key="question_id",
                fields=TRIVIAQA_FIELDS, toy=_TOY + "trivia_records", warmup_corpus=True),
    # Facts a small pretrained model can partly know (datasets.facts).
    DatasetSpec("toy_arithmetic", "number", _gsm8k, has_human_cot=True, toy=_FACTS + "arithmetic_records"),
    DatasetSpec("toy_categories", "choice", _arc, toy=_FACTS + "category_records"),
    DatasetSpec("toy_facts", "text", _triviaqa, contain_match="aliases", question_key="question_id",
                fields=TRIVIAQA_FIELDS, toy=_FACTS + "fact_records"),
]:
    register(_spec)


def get_spec(kind: str) -> DatasetSpec:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r}; registered: {', '.join(sorted(REGISTRY))}") from None
