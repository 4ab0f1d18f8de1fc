"""Answer types: one ``AnswerType`` object per answer format, which knows how a
response's final answer is extracted, how a label's closing line reads, how an
answer is scored and how a question's sampled responses are clustered.

Three answer types cover the paper's datasets:
- ``number``: GSM8K-style, the response ends with a line ``#### <number>``.
- ``choice``: ARC-style, the response ends with the sentence
  ``So the correct choice is <LETTER>.``
- ``text``: HotpotQA/TriviaQA-style free text; the paper scores "gold contained
  in the response"; we also extract the short answer after ``Answer:`` for
  normalised exact match and F1 (SQuAD normalisation). Its responses are
  clustered by embedding similarity, the others' by equal answer keys (the
  extracted answer, or the raw text after ``marker``; see ``marker_text``).

Each answer is read two ways, as lm-evaluation-harness reports both: strict (only
the exact closing line) and flexible (the same commitment in the forms instruct
models write it). Neither ever picks a number or letter the response does not
state as its answer. The flexible reading is the one scores and labels use.

Everything that parses, scores or clusters responses (CoT filter, clustering,
evaluation, the tiny models' warm-up) asks the dataset's registry entry
(``datasets.registry``) for its answer type, so a format lives in exactly one
place. ``register_answer_type`` adds a new one.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    r"(?i:\b(?:choice|answer|option)\s*(?:is|:)\s*:?\s*(?:option\s+|choice\s+)?)[\(\[]?([A-J])(?![A-Za-z0-9])"
)
_CHOICE_BOXED_RE = re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*([A-J])\s*\}")
# "I choose D", "I would go with option B", "I'll pick (C)"
_CHOICE_CHOOSE_RE = re.compile(
    r"(?i:\bI(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with)\s+(?:option\s+|choice\s+|answer\s+)?)"
    r"[\(\[]?([A-J])(?![A-Za-z0-9])"
)
# A last line that is only the letter: "**B**", "(C)", "Option D", "choice A."
_CHOICE_BARE_LINE_RE = re.compile(r"^(?i:(?:option|choice)\s+)?[\(\[]?([A-J])[\)\]]?\.?$")
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


def _number_strict(response: str) -> str | None:
    found = _last(_NUMBER_STRICT_RE, response)
    return None if found is None else normalize_number(found)


def _number_flexible(response: str) -> str | None:
    plain = _MARKDOWN_RE.sub("", response)
    # the "####" line first: a response that writes one commits to it
    for pattern in (_NUMBER_MARKER_RE, _NUMBER_BOXED_RE, _NUMBER_PHRASE_RE):
        found = _last(pattern, plain)
        if found is not None:
            return normalize_number(found)
    return None


def _choice_strict(response: str) -> str | None:
    found = _last(_CHOICE_STRICT_RE, response)
    return None if found is None else found.upper()


def _choice_flexible(response: str) -> str | None:
    plain = _MARKDOWN_RE.sub("", response)
    found = _last(_CHOICE_STRICT_RE, plain)
    if found is not None:
        return found.upper()
    # otherwise the response's last commitment, in whichever form it is written
    candidates = [
        (match.end(), match.group(1))
        for pattern in (_CHOICE_FLEX_RE, _CHOICE_BOXED_RE, _CHOICE_CHOOSE_RE)
        for match in pattern.finditer(plain)
    ]
    stripped = plain.rstrip()
    last_line = stripped.rsplit("\n", 1)[-1].strip()
    bare = _CHOICE_BARE_LINE_RE.match(last_line)
    if bare:
        candidates.append((len(stripped), bare.group(1)))
    return max(candidates)[1] if candidates else None


def _text_strict(response: str) -> str | None:
    found = _last(_TEXT_STRICT_RE, response)
    return None if found is None else _clean_text_answer(found)


def _text_flexible(response: str) -> str | None:
    plain = _MARKDOWN_RE.sub("", response)
    found = _last(_TEXT_STRICT_RE, plain) or _last(_TEXT_FLEX_RE, plain)
    if found is not None:
        return _clean_text_answer(found)
    lines = [line.strip() for line in plain.strip().splitlines() if line.strip()]
    # A one-line response is its own answer; in a longer one without a marker,
    # no line is singled out as the answer.
    return _clean_text_answer(lines[0]) if len(lines) == 1 else None


def _choice_letter(gold: str) -> str:
    return gold.strip().upper()


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


@dataclass(frozen=True)
class AnswerType:
    """One answer format: how a response's answer is read, how a label closes, how
    an answer is scored and how a question's sampled responses are clustered.

    Its ``name`` also names its prompt templates (``question/<name>.txt``,
    ``cot/<name>.txt``, ``format/<name>.txt`` in ``resources/prompts/``)."""

    name: str
    final_line: str  # the closing line a label ends with; "{answer}" is filled in
    strict: Callable[[str], str | None]  # the answer the exact closing line states, or None
    flexible: Callable[[str], str | None]  # the same commitment in the forms instruct models write it
    # Exact-match scoring: the gold's canonical form, compared with the extracted
    # answer. None: free-text scoring (the paper's contain-match, plus normalised EM
    # and token F1 of the extracted short answer).
    canonical: Callable[[str], str | None] | None = None
    # Clustering: by embedding similarity of the responses (needs an embedder and a
    # threshold), else by equal extracted answers.
    clusters_by_embedding: bool = False
    # The tiny models' warm-up answer: this line ("{answer}" filled in) before
    # the closing line; None: the row's worked solution, which ends with it.
    warmup: str | None = None
    # The text that opens the closing line's answer ("#### "), for clustering by the
    # raw text after it as the reference did (``marker_text``); None: no such marker.
    marker: str | None = None

    @property
    def free_text(self) -> bool:
        """Scored by contain-match, EM and F1 (the tables' QA metrics), not exact match."""
        return self.canonical is None

    def extract(self, response: str | None, strict: bool = False) -> str | None:
        """The final answer a response commits to, or None if it commits to none.

        ``strict`` accepts only the exact closing line our prompts ask for; the
        default (flexible) also reads the forms instruct models use for the same
        commitment. Both take the last commitment in the response."""
        if response is None:
            return None
        return (self.strict if strict else self.flexible)(response)

    def marker_text(self, response: str | None) -> str | None:
        """The reference's answer key for clustering: the raw text after the first
        ``marker`` (up to a second one), stripped, so "A." and "A. dry palms."
        differ; None when the response has no marker."""
        if self.marker is None:
            raise ValueError(f"answer type {self.name!r} has no closing marker to cluster by")
        if not isinstance(response, str) or self.marker not in response:
            return None
        return response.split(self.marker)[1].strip()

    def format_final(self, answer: str) -> str:
        """The closing line a label ends with, in the form ``extract`` parses."""
        return self.final_line.format(answer=answer)

    def warmup_answer(self, row: dict) -> str:
        """A short answer to a normalised row in this format, for the tiny models' warm-up."""
        if self.warmup is None:
            return row["solution"]
        return self.warmup.format(answer=row["answer"]) + "\n" + self.format_final(row["answer"])

    def score(
        self,
        response: str | None,
        gold: str,
        aliases: list[str] | None = None,
        *,
        contain_golds: list[str] | None = None,
        lenient_aliases: list[str] | None = None,
    ) -> Score:
        """Score one response. Unparsable responses are wrong (never dropped).

        ``gold`` is the canonical answer (number string, letter, or text) and
        ``aliases`` extra accepted strings for free-text answers. There, ``correct``
        is the paper's contain-match of ``contain_golds`` (default: gold and aliases)
        in the lower-cased response; ``lenient_correct`` also accepts ``lenient_aliases``.
        """
        extracted = self.extract(response)
        strict = self.extract(response, strict=True)
        if self.canonical is not None:
            gold_norm = self.canonical(gold)
            hit = extracted is not None and extracted == gold_norm
            strict_hit = strict is not None and strict == gold_norm
            return Score(extracted, hit, float(hit), float(hit), strict, strict_hit, hit)
        return _free_text_score(response, extracted, strict, gold, aliases, contain_golds, lenient_aliases)


def _free_text_score(
    response: str | None,
    extracted: str | None,
    strict: str | None,
    gold: str,
    aliases: list[str] | None,
    contain_golds: list[str] | None,
    lenient_aliases: list[str] | None,
) -> Score:
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


NUMBER = AnswerType(
    "number", "#### {answer}", _number_strict, _number_flexible, canonical=normalize_number, marker="#### "
)
CHOICE = AnswerType(
    "choice", CHOICE_SENTENCE + " {answer}.", _choice_strict, _choice_flexible, canonical=_choice_letter,
    warmup="Option {answer} fits the question best.", marker=CHOICE_SENTENCE + " ",
)
TEXT = AnswerType(
    "text", TEXT_MARKER + " {answer}", _text_strict, _text_flexible, clusters_by_embedding=True,
    warmup="I recall that it is {answer}.",
)

# Every answer type by name; a dataset's registry entry names one.
ANSWER_TYPES: dict[str, AnswerType] = {t.name: t for t in (NUMBER, CHOICE, TEXT)}


def register_answer_type(answer_type: AnswerType) -> AnswerType:
    """Add an answer type (its prompt templates go in ``resources/prompts/``)."""
    known = ANSWER_TYPES.get(answer_type.name)
    if known is not None and known != answer_type:
        raise ValueError(f"answer type {answer_type.name!r} is registered already")
    ANSWER_TYPES[answer_type.name] = answer_type
    return answer_type


def get_answer_type(answer_type: str | AnswerType) -> AnswerType:
    """The registered answer type of that name (an ``AnswerType`` is returned as it is)."""
    if isinstance(answer_type, AnswerType):
        return answer_type
    try:
        return ANSWER_TYPES[answer_type]
    except KeyError:
        raise ValueError(f"unknown answer_type {answer_type!r}; expected one of {', '.join(ANSWER_TYPES)}") from None


# --- by name, for callers that hold an answer type's name -----------------------------


def extract(answer_type: str | AnswerType, response: str | None, strict: bool = False) -> str | None:
    """``AnswerType.extract`` of the named answer type."""
    return get_answer_type(answer_type).extract(response, strict)


def format_final(answer_type: str | AnswerType, answer: str) -> str:
    """``AnswerType.format_final`` of the named answer type."""
    return get_answer_type(answer_type).format_final(answer)


def score(answer_type: str | AnswerType, response: str | None, *args: Any, **kwargs: Any) -> Score:
    """``AnswerType.score`` of the named answer type (same arguments after the response)."""
    return get_answer_type(answer_type).score(response, *args, **kwargs)
