"""Toy datasets made locally and deterministically from a seed.

Each generator, ``(n, seed) -> records``, returns records in the *hub shape* of
the real dataset it stands in for (gsm8k, ai2_arc, trivia_qa), so the tiny
default runs the very same normalisers as the paper's data. The registry
(``datasets.registry``) names the generator of each toy kind:
- ``toy_math``   (``math_records``)   -> gsm8k shape: ``question``, ``answer`` = worked solution + ``#### n``
- ``toy_choice`` (``choice_records``) -> ai2_arc shape: ``id``, ``question``, ``choices{text,label}``, ``answerKey``
- ``toy_trivia`` (``trivia_records``) -> trivia_qa shape: ``question``, ``question_id``, ``answer{value, aliases, ...}``
"""

from __future__ import annotations

import random

from alice_w2s.datasets.registry import get_spec

_NAMES = ["Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena"]
_ITEMS = ["apples", "books", "coins", "stamps", "shells", "pencils", "marbles", "cards"]


def _math_record(rng: random.Random) -> dict:
    name = rng.choice(_NAMES)
    item = rng.choice(_ITEMS)
    a, b = rng.randint(2, 30), rng.randint(2, 20)
    kind = rng.choice(["add", "sub", "mul"])
    if kind == "add":
        question = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
        result = a + b
        steps = f"{name} starts with {a} {item} and gets {b} more, so {a} + {b} = {result}."
    elif kind == "sub":
        a = a + b  # keep the result positive
        question = f"{name} has {a} {item} and gives away {b}. How many {item} are left?"
        result = a - b
        steps = f"{name} starts with {a} {item} and gives away {b}, so {a} - {b} = {result}."
    else:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        question = f"{name} has {a} boxes with {b} {item} in each box. How many {item} are there in total?"
        result = a * b
        steps = f"There are {a} boxes of {b} {item}, so {a} * {b} = {result}."
    return {"question": question, "answer": f"{steps}\n#### {result}"}


_CATEGORIES = {
    "fruit": ["apple", "banana", "cherry", "grape", "lemon", "mango", "pear", "plum"],
    "animal": ["tiger", "horse", "rabbit", "eagle", "whale", "zebra", "otter", "camel"],
    "colour": ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"],
    "tool": ["hammer", "wrench", "saw", "drill", "chisel", "pliers", "shovel", "rake"],
    "planet": ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"],
}


def _choice_record(rng: random.Random, index: int) -> dict:
    category = rng.choice(sorted(_CATEGORIES))
    right = rng.choice(_CATEGORIES[category])
    others = [c for c in sorted(_CATEGORIES) if c != category]
    wrong = [rng.choice(_CATEGORIES[c]) for c in rng.sample(others, 3)]
    options = [right, *wrong]
    rng.shuffle(options)
    labels = ["A", "B", "C", "D"]
    return {
        "id": f"toy_choice_{index:05d}",
        "question": f"Which of these is a {category}?",
        "choices": {"text": options, "label": labels},
        "answerKey": labels[options.index(right)],
    }


_SYLLABLES = ["ka", "lo", "mi", "ra", "ve", "to", "su", "ne", "bi", "da", "po", "zu"]


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def _trivia_world(seed: int, size: int = 60) -> list[tuple[str, str, str]]:
    """A fixed fictional world: (country, capital, river) triples."""
    rng = random.Random(seed)
    world, seen = [], set()
    while len(world) < size:
        country, capital, river = _word(rng, 3), _word(rng, 2), _word(rng, 2)
        if country in seen:
            continue
        seen.add(country)
        world.append((country, capital, river))
    return world


def _trivia_record(rng: random.Random, world: list[tuple[str, str, str]], index: int) -> dict:
    country, capital, river = rng.choice(world)
    if rng.random() < 0.5:
        question, value, aliases = f"What is the capital city of {country}?", capital, [capital, f"{capital} City"]
    else:
        question, value, aliases = f"Which river flows through {country}?", river, [river, f"{river} River"]
    return {
        "question": question,
        "question_id": f"toy_trivia_{index:05d}",
        "answer": {
            "value": value,
            "aliases": aliases,
            "normalized_value": value.lower(),
            "normalized_aliases": [a.lower() for a in aliases],
        },
    }


def math_records(n: int, seed: int) -> list[dict]:
    rng = random.Random(f"toy_math:{seed}")
    return [_math_record(rng) for _ in range(n)]


def choice_records(n: int, seed: int) -> list[dict]:
    rng = random.Random(f"toy_choice:{seed}")
    return [_choice_record(rng, i) for i in range(n)]


def trivia_records(n: int, seed: int) -> list[dict]:
    rng = random.Random(f"toy_trivia:{seed}")
    world = _trivia_world(seed)
    return [_trivia_record(rng, world, i) for i in range(n)]


def generate(kind: str, n: int, seed: int) -> list[dict]:
    """``n`` records of toy dataset ``kind`` (its registry entry's generator), the
    same for the same seed."""
    spec = get_spec(kind)
    if not spec.is_toy:
        raise ValueError(f"dataset kind {kind!r} is not a toy dataset (it has no toy generator)")
    return spec.toy_records(n, seed)
