"""Answer extraction and scoring, one function per answer type.

Three answer types cover the paper's datasets:
- ``number``: GSM8K-style, the response ends with a line ``#### <number>``.
- ``choice``: ARC-style, the response ends with the sentence
  ``So the correct choice is <LETTER>.``
- ``text``: HotpotQA/TriviaQA-style free text; the paper scores "gold contained
  in the response"; we also extract the short answer after ``Answer:`` for
  normalised exact match and F1 (SQuAD normalisation).

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

_NUMBER_RE = re.compile(r"####\s*\$?\s*(-?[\d,]*\.?\d+)")
_CHOICE_RE = re.compile(re.escape(CHOICE_SENTENCE) + r"\s*\(?([A-Za-z0-9])\)?", re.IGNORECASE)
_TEXT_RE = re.compile(re.escape(TEXT_MARKER) + r"\s*(.+)", re.IGNORECASE)


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


def extract(answer_type: str, response: str | None) -> str | None:
    """The final answer a response commits to, or None if it commits to none."""
    if response is None:
        return None
    if answer_type == "number":
        matches = _NUMBER_RE.findall(response)
        return normalize_number(matches[-1]) if matches else None
    if answer_type == "choice":
        matches = _CHOICE_RE.findall(response)
        return matches[-1].upper() if matches else None
    if answer_type == "text":
        matches = _TEXT_RE.findall(response)
        if matches:
            answer = matches[-1].strip().rstrip(".").strip()
            return answer or None
        lines = [line.strip() for line in response.strip().splitlines() if line.strip()]
        return lines[-1] if lines else None
    raise ValueError(f"unknown answer_type {answer_type!r}; expected one of {ANSWER_TYPES}")


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
    extracted: str | None
    correct: bool  # the paper's metric: exact for number/choice, contain-match for text
    exact_match: float  # normalised EM of the extracted answer against the best gold
    f1: float  # SQuAD token F1 of the extracted answer against the best gold

    @property
    def parsed(self) -> bool:
        return self.extracted is not None


def score(answer_type: str, response: str | None, gold: str, aliases: list[str] | None = None) -> Score:
    """Score one response. Unparsable responses are wrong (never dropped).

    ``gold`` is the canonical answer (number string, letter, or text) and
    ``aliases`` extra accepted strings for text answers (TriviaQA).
    """
    extracted = extract(answer_type, response)
    if answer_type in ("number", "choice"):
        if answer_type == "number":
            gold_norm = normalize_number(gold)
        else:
            gold_norm = gold.strip().upper()
        hit = extracted is not None and extracted == gold_norm
        return Score(extracted, hit, float(hit), float(hit))
    golds = [gold, *(aliases or [])]
    golds = [g for g in golds if g and g.strip()]
    haystack = (response or "").lower()
    # The paper's contain-match: any gold string inside the whole response.
    contained = any(g.lower() in haystack for g in golds) if response else False
    if extracted is None:
        return Score(None, contained, 0.0, 0.0)
    em = max(float(normalize_text(extracted) == normalize_text(g)) for g in golds)
    f1 = max(token_f1(extracted, g) for g in golds)
    return Score(extracted, contained, em, f1)
