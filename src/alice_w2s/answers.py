"""Answer extraction and scoring, one function per answer type.

Three answer types cover the paper's datasets:
- ``number``: GSM8K-style, the response ends with a line ``#### <number>``.
- ``choice``: ARC-style, the response ends with the sentence
  ``So the correct choice is <LETTER>.``
- ``text``: HotpotQA/TriviaQA-style free text; the paper scores "gold contained
  in the response"; we also extract the short answer after ``Answer:`` for
  normalised exact match and F1 (SQuAD normalisation).

Each answer is read two ways, as lm-evaluation-harness reports both: strict (only
the exact closing line) and flexible (the same commitment in the forms instruct
models write it). Neither ever picks a number or letter the response does not
state as its answer. The flexible reading is the one scores and labels use.

Everything that parses or scores a response (CoT filter, clustering,
evaluation) goes through this module via the dataset registry, so a format
lives in exactly one place.
"""

from __future__ import annotations

import collections
import re
import string
from dataclasses import dataclass

ANSWER_TYPES = ("number", "choice", "text")

# The sentences the prompts ask models to end with; labels are rendered with the
# same strings (see ``format_final``), so training data and parsing agree.
CHOICE_SENTENCE = "So the correct choice is"
TEXT_MARKER = "Answer:"

# Strict: exactly the closing lines our prompts ask for (lm-evaluation-harness's
# "strict-match" idea). Flexible: the same commitments as real instruct models
# write them (markdown, "$", "\\boxed{}", "So, the correct choice is: **B**",
# "The answer is option B"), but never a number or letter the response does not
# state as its answer (no "last number anywhere" fallback).
_NUM = r"(-?\d[\d,]*(?:\.\d+)?|-?\.\d+)"
_NUMBER_STRICT_RE = re.compile(r"####[ \t]*" + _NUM)
_NUMBER_MARKER_RE = re.compile(r"####[ \t]*(?:\\boxed\{)?[ \t]*(?:\\?\$)?[ \t]*" + _NUM)
_NUMBER_BOXED_RE = re.compile(r"\\boxed\{\s*(?:\\?\$)?\s*" + _NUM + r"\s*\}")
_NUMBER_PHRASE_RE = re.compile(r"(?i:\b(?:final answer|the answer)\s*(?:is|:)\s*:?)\s*(?:\\?\$)?\s*" + _NUM + r"(?![\d,])")
_CHOICE_STRICT_RE = re.compile(re.escape(CHOICE_SENTENCE) + r"\s*\(?([A-Za-z])\)?(?![A-Za-z])", re.IGNORECASE)
# The letter must be a capital A-J: "the answer is a ..." is an article, not choice A.
_CHOICE_FLEX_RE = re.compile(
    r"(?i:\b(?:choice|answer)\s*(?:is|:)\s*:?\s*(?:option\s+|choice\s+)?)[\(\[]?([A-J])(?![A-Za-z0-9])"
)
_CHOICE_BOXED_RE = re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*([A-J])\s*\}")
_TEXT_STRICT_RE = re.compile(re.escape(TEXT_MARKER) + r"[ \t]*(.+)", re.IGNORECASE)
_TEXT_FLEX_RE = re.compile(r"(?i:\b(?:final answer|answer)\s*(?::|is:?))[ \t]*(.+)")
_MARKDOWN_RE = re.compile(r"\*\*|__")


def normalize_number(raw: str) -> str | None:
    """Canonical string for a number: no commas, ``$`` or trailing dot; ints stay ints."""
    cleaned = raw.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value.is_integer():
        return str(int(value))
    return repr(value)


def _last(pattern: re.Pattern, text: str) -> str | None:
    matches = pattern.findall(text)
    return matches[-1] if matches else None


def _clean_text_answer(raw: str) -> str | None:
    answer = raw.strip().strip("*_").strip().rstrip(".").strip()
    return answer or None


def extract(answer_type: str, response: str | None, strict: bool = False) -> str | None:
    """The final answer a response commits to, or None if it commits to none.

    ``strict`` accepts only the exact closing line our prompts ask for; the
    default (flexible) also reads the forms instruct models use for the same
    commitment. Both take the last commitment in the response."""
    if response is None:
        return None
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {answer_type!r}; expected one of {ANSWER_TYPES}")
    if strict:
        pattern = {"number": _NUMBER_STRICT_RE, "choice": _CHOICE_STRICT_RE, "text": _TEXT_STRICT_RE}[answer_type]
        found = _last(pattern, response)
        if found is None:
            return None
        if answer_type == "number":
            return normalize_number(found)
        return found.upper() if answer_type == "choice" else _clean_text_answer(found)
    plain = _MARKDOWN_RE.sub("", response)
    if answer_type == "number":
        # the "####" line first: a response that writes one commits to it
        for pattern in (_NUMBER_MARKER_RE, _NUMBER_BOXED_RE, _NUMBER_PHRASE_RE):
            found = _last(pattern, plain)
            if found is not None:
                return normalize_number(found)
        return None
    if answer_type == "choice":
        found = _last(_CHOICE_STRICT_RE, plain)
        if found is not None:
            return found.upper()
        found = _last(_CHOICE_FLEX_RE, plain) or _last(_CHOICE_BOXED_RE, plain)
        return found
    found = _last(_TEXT_STRICT_RE, plain) or _last(_TEXT_FLEX_RE, plain)
    if found is not None:
        return _clean_text_answer(found)
    lines = [line.strip() for line in plain.strip().splitlines() if line.strip()]
    # A one-line response is its own answer; in a longer one without a marker,
    # no line is singled out as the answer.
    return _clean_text_answer(lines[0]) if len(lines) == 1 else None


def format_final(answer_type: str, answer: str) -> str:
    """The closing line a label ends with, in the form ``extract`` parses."""
    if answer_type == "number":
        return f"#### {answer}"
    if answer_type == "choice":
        return f"{CHOICE_SENTENCE} {answer}."
    if answer_type == "text":
        return f"{TEXT_MARKER} {answer}"
    raise ValueError(f"unknown answer_type {answer_type!r}; expected one of {ANSWER_TYPES}")


# --- SQuAD-style normalisation for the QA sets -------------------------------------


def normalize_text(text: str) -> str:
    """Lower case, drop punctuation and articles, squeeze whitespace (SQuAD)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_text(prediction).split()
    gold_tokens = normalize_text(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Score:
    extracted: str | None  # flexible extraction (see ``extract``)
    correct: bool  # the paper's metric: exact for number/choice, contain-match for text
    exact_match: float  # normalised EM of the extracted answer against the best gold
    f1: float  # SQuAD token F1 of the extracted answer against the best gold
    strict_extracted: str | None = None  # the exact closing line only
    strict_correct: bool = False  # number/choice: strict answer equals gold; text: strict answer's EM
    lenient_correct: bool = False  # text: any gold or alias, raw or normalised, contained (case-insensitive)

    @property
    def parsed(self) -> bool:
        return self.extracted is not None


def score(
    answer_type: str,
    response: str | None,
    gold: str,
    aliases: list[str] | None = None,
    *,
    contain_golds: list[str] | None = None,
    lenient_aliases: list[str] | None = None,
) -> Score:
    """Score one response. Unparsable responses are wrong (never dropped).

    ``gold`` is the canonical answer (number string, letter, or text) and
    ``aliases`` extra accepted strings for text answers. For text, ``correct`` is
    the paper's contain-match of ``contain_golds`` (default: gold and aliases) in
    the lower-cased response; ``lenient_correct`` also accepts ``lenient_aliases``.
    """
    extracted = extract(answer_type, response)
    strict = extract(answer_type, response, strict=True)
    if answer_type in ("number", "choice"):
        if answer_type == "number":
            gold_norm = normalize_number(gold)
        else:
            gold_norm = gold.strip().upper()
        hit = extracted is not None and extracted == gold_norm
        strict_hit = strict is not None and strict == gold_norm
        return Score(extracted, hit, float(hit), float(hit), strict, strict_hit, hit)
    golds = [g for g in [gold, *(aliases or [])] if g and g.strip()]
    paper_golds = golds if contain_golds is None else [g for g in contain_golds if g and g.strip()]
    lenient_golds = [*golds, *paper_golds, *(g for g in (lenient_aliases or []) if g and g.strip())]
    haystack = (response or "").lower()

    def contains(candidates: list[str]) -> bool:
        return bool(response) and any(g.lower() in haystack for g in candidates)

    correct, lenient = contains(paper_golds), contains(lenient_golds)
    strict_hit = strict is not None and any(normalize_text(strict) == normalize_text(g) for g in lenient_golds)
    if extracted is None:
        return Score(None, correct, 0.0, 0.0, strict, strict_hit, lenient)
    em = max(float(normalize_text(extracted) == normalize_text(g)) for g in lenient_golds) if lenient_golds else 0.0
    f1 = max(token_f1(extracted, g) for g in lenient_golds) if lenient_golds else 0.0
    return Score(extracted, correct, em, f1, strict, strict_hit, lenient)
