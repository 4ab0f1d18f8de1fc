"""Deterministic datasets whose answers a small pretrained model can partly know:
arithmetic, word categories and real-world facts written down here. They let a
real instruct model (SmolLM2, config/config.yaml) show accuracies that are neither
0 nor 1 without the hub. Records come in the hub shapes of the datasets they
stand in for, so the same normalisers run as on the paper's data:

- ``toy_arithmetic`` (``arithmetic_records``) -> gsm8k shape (worked line + ``#### n``)
- ``toy_categories`` (``category_records``)   -> ai2_arc shape (four lettered options)
- ``toy_facts``      (``fact_records``)       -> trivia_qa shape (value + aliases)

Every question is asked once, in a seeded order, so train and eval never share
one: arithmetic is drawn at random and a repeat is skipped; categories and facts
come from fixed lists.
"""

from __future__ import annotations

import random

from alice_w2s.answers import normalize_text
from alice_w2s.datasets.registry import REGISTRY

# --- arithmetic ---------------------------------------------------------------------


def _arithmetic_record(rng: random.Random) -> dict:
    kind = rng.choice(["add", "sub", "mul", "add3"])
    if kind == "add":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        expression, result = f"{a} + {b}", a + b
    elif kind == "sub":
        a, b = rng.randint(20, 99), rng.randint(2, 19)
        expression, result = f"{a} - {b}", a - b
    elif kind == "mul":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        expression, result = f"{a} * {b}", a * b
    else:
        a, b, c = rng.randint(2, 30), rng.randint(2, 30), rng.randint(2, 30)
        expression, result = f"{a} + {b} + {c}", a + b + c
    return {"question": f"What is {expression}?", "answer": f"{expression} = {result}.\n#### {result}"}


# --- categories ---------------------------------------------------------------------

_CATEGORY_WORDS = {
    "fruit": ["apple", "banana", "cherry", "grape", "lemon", "mango", "pear", "peach", "plum", "apricot", "orange", "pineapple"],
    "vegetable": ["carrot", "potato", "onion", "cabbage", "spinach", "broccoli", "lettuce", "cucumber", "celery", "turnip"],
    "mammal": ["tiger", "horse", "rabbit", "whale", "zebra", "otter", "camel", "elephant", "dolphin", "bat", "goat", "wolf"],
    "bird": ["eagle", "sparrow", "penguin", "owl", "parrot", "robin", "swan", "pigeon", "crow", "ostrich", "flamingo"],
    "colour": ["red", "blue", "green", "yellow", "purple", "brown", "pink", "grey", "violet", "indigo"],
    "tool": ["hammer", "wrench", "saw", "drill", "chisel", "pliers", "shovel", "rake", "screwdriver", "axe"],
    "planet": ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"],
    "musical instrument": ["piano", "violin", "guitar", "flute", "trumpet", "drum", "cello", "harp", "clarinet", "saxophone"],
    "metal": ["iron", "copper", "gold", "silver", "zinc", "tin", "lead", "aluminium", "nickel", "platinum"],
    "country": ["France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "India", "Peru", "Egypt", "Mexico"],
    "sport": ["football", "tennis", "cricket", "hockey", "golf", "rugby", "baseball", "volleyball", "basketball", "boxing"],
    "body part": ["elbow", "knee", "ankle", "shoulder", "wrist", "finger", "liver", "lung", "heart", "skull"],
}


def _category_questions(seed: int) -> list[tuple[str, str]]:
    """Every (category, word) once, in a seeded order."""
    pairs = [(category, word) for category in sorted(_CATEGORY_WORDS) for word in _CATEGORY_WORDS[category]]
    random.Random(f"toy_categories:{seed}").shuffle(pairs)
    return pairs


def _category_record(rng: random.Random, category: str, right: str, index: int) -> dict:
    others = [c for c in sorted(_CATEGORY_WORDS) if c != category]
    wrong = [rng.choice(_CATEGORY_WORDS[c]) for c in rng.sample(others, 3)]
    options = [right, *wrong]
    rng.shuffle(options)
    labels = ["A", "B", "C", "D"]
    article = "an" if category[0] in "aeiou" else "a"
    return {
        "id": f"toy_categories_{index:05d}",
        "question": f"Which of these is {article} {category}?",
        "choices": {"text": options, "label": labels},
        "answerKey": labels[options.index(right)],
    }


# --- real-world facts -----------------------------------------------------------------

# country: (capital, continent)
_COUNTRIES = {
    "France": ("Paris", "Europe"), "Germany": ("Berlin", "Europe"), "Italy": ("Rome", "Europe"),
    "Spain": ("Madrid", "Europe"), "Portugal": ("Lisbon", "Europe"), "Greece": ("Athens", "Europe"),
    "Austria": ("Vienna", "Europe"), "Poland": ("Warsaw", "Europe"), "Sweden": ("Stockholm", "Europe"),
    "Norway": ("Oslo", "Europe"), "Finland": ("Helsinki", "Europe"), "Denmark": ("Copenhagen", "Europe"),
    "Ireland": ("Dublin", "Europe"), "Hungary": ("Budapest", "Europe"), "Belgium": ("Brussels", "Europe"),
    "Netherlands": ("Amsterdam", "Europe"), "Czech Republic": ("Prague", "Europe"), "Russia": ("Moscow", "Europe"),
    "Ukraine": ("Kyiv", "Europe"), "Romania": ("Bucharest", "Europe"), "Japan": ("Tokyo", "Asia"),
    "China": ("Beijing", "Asia"), "India": ("New Delhi", "Asia"), "South Korea": ("Seoul", "Asia"),
    "Thailand": ("Bangkok", "Asia"), "Vietnam": ("Hanoi", "Asia"), "Indonesia": ("Jakarta", "Asia"),
    "Philippines": ("Manila", "Asia"), "Iran": ("Tehran", "Asia"), "Iraq": ("Baghdad", "Asia"),
    "Saudi Arabia": ("Riyadh", "Asia"), "Pakistan": ("Islamabad", "Asia"), "Afghanistan": ("Kabul", "Asia"),
    "Nepal": ("Kathmandu", "Asia"), "Malaysia": ("Kuala Lumpur", "Asia"), "Egypt": ("Cairo", "Africa"),
    "Kenya": ("Nairobi", "Africa"), "Nigeria": ("Abuja", "Africa"), "Ethiopia": ("Addis Ababa", "Africa"),
    "Ghana": ("Accra", "Africa"), "Morocco": ("Rabat", "Africa"), "Senegal": ("Dakar", "Africa"),
    "Uganda": ("Kampala", "Africa"), "Zimbabwe": ("Harare", "Africa"), "Algeria": ("Algiers", "Africa"),
    "Canada": ("Ottawa", "North America"), "Mexico": ("Mexico City", "North America"),
    "United States": ("Washington, D.C.", "North America"), "Cuba": ("Havana", "North America"),
    "Jamaica": ("Kingston", "North America"), "Brazil": ("Brasilia", "South America"),
    "Argentina": ("Buenos Aires", "South America"), "Chile": ("Santiago", "South America"),
    "Peru": ("Lima", "South America"), "Colombia": ("Bogota", "South America"),
    "Venezuela": ("Caracas", "South America"), "Ecuador": ("Quito", "South America"),
    "Uruguay": ("Montevideo", "South America"), "Australia": ("Canberra", "Oceania"),
    "New Zealand": ("Wellington", "Oceania"), "Fiji": ("Suva", "Oceania"),
}
# element: symbol (asked as symbol -> element: a one- or two-letter answer would be
# "contained" in almost any response)
_ELEMENTS = {
    "hydrogen": "H", "helium": "He", "carbon": "C", "nitrogen": "N", "oxygen": "O", "sodium": "Na",
    "magnesium": "Mg", "aluminium": "Al", "silicon": "Si", "phosphorus": "P", "sulfur": "S", "chlorine": "Cl",
    "potassium": "K", "calcium": "Ca", "iron": "Fe", "copper": "Cu", "zinc": "Zn", "silver": "Ag",
    "gold": "Au", "lead": "Pb", "mercury": "Hg", "tin": "Sn", "neon": "Ne", "uranium": "U",
}
# (question, answer, aliases): one-off facts
_GENERAL = [
    ("What is the largest planet in the Solar System?", "Jupiter", []),
    ("Which planet is known as the Red Planet?", "Mars", []),
    ("What is the largest ocean on Earth?", "Pacific Ocean", ["Pacific", "the Pacific"]),
    ("What is the tallest mountain on Earth?", "Mount Everest", ["Everest"]),
    ("What is the longest river in Africa?", "Nile", ["the Nile", "Nile River"]),
    ("What gas do plants take in from the air for photosynthesis?", "carbon dioxide", ["CO2"]),
    ("Who wrote the play Romeo and Juliet?", "William Shakespeare", ["Shakespeare"]),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", ["da Vinci", "Leonardo"]),
    ("Who developed the theory of relativity?", "Albert Einstein", ["Einstein"]),
    ("What is the chemical formula of water?", "H2O", []),
    ("What is the closest star to Earth?", "the Sun", ["Sun"]),
    ("What is the natural satellite of Earth called?", "the Moon", ["Moon"]),
    ("What is the largest mammal?", "blue whale", ["the blue whale"]),
    ("In which country are the pyramids of Giza?", "Egypt", []),
    ("What language is mainly spoken in Brazil?", "Portuguese", []),
    ("What is the currency of Japan?", "yen", ["Japanese yen"]),
    ("What is the currency of the United Kingdom?", "pound sterling", ["pound", "pounds", "British pound"]),
    ("Which organ pumps blood through the human body?", "the heart", ["heart"]),
    ("What is the hardest natural substance?", "diamond", []),
    ("What is the largest country in the world by area?", "Russia", []),
]


def _fact_questions(seed: int) -> list[tuple[str, str, list[str]]]:
    """Every fact once, in a seeded order."""
    facts: list[tuple[str, str, list[str]]] = []
    for country, (capital, continent) in _COUNTRIES.items():
        facts.append((f"What is the capital city of {country}?", capital, []))
        facts.append((f"On which continent is {country}?", continent, []))
        facts.append((f"Which country has {capital} as its capital city?", country, []))
    for element, symbol in _ELEMENTS.items():
        facts.append((f"Which chemical element has the symbol {symbol}?", element, []))
    facts += _GENERAL
    random.Random(f"toy_facts:{seed}").shuffle(facts)
    return facts


def _fact_record(fact: tuple[str, str, list[str]], index: int) -> dict:
    question, value, aliases = fact
    accepted = [value, *aliases]
    # as the hub's normalised aliases (SQuAD-normalised), plus the lower-cased
    # spellings, which the contain-match finds in "Washington, D.C." as written
    normalized = list(dict.fromkeys([*(normalize_text(a) for a in accepted), *(a.lower() for a in accepted)]))
    return {
        "question": question,
        "question_id": f"toy_facts_{index:05d}",
        "answer": {
            "value": value,
            "aliases": accepted,
            "normalized_value": normalize_text(value),
            "normalized_aliases": normalized,
        },
    }


def _take(pool: list, n: int, kind: str) -> list:
    if n > len(pool):
        raise ValueError(f"{kind} has {len(pool)} distinct questions; n_train + n_eval asks for {n}")
    return pool[:n]


def arithmetic_records(n: int, seed: int) -> list[dict]:
    """``n`` distinct questions, drawn in a seeded order: a question drawn again is
    skipped, so train and eval (cut from one list) never share one."""
    rng = random.Random(f"toy_arithmetic:{seed}")
    records: list[dict] = []
    seen: set[str] = set()
    for _ in range(100 * n):
        if len(records) == n:
            break
        record = _arithmetic_record(rng)
        if record["question"] not in seen:
            seen.add(record["question"])
            records.append(record)
    return _take(records, n, "toy_arithmetic")


def category_records(n: int, seed: int) -> list[dict]:
    rng = random.Random(f"toy_categories:{seed}:options")
    pairs = _take(_category_questions(seed), n, "toy_categories")
    return [_category_record(rng, category, word, i) for i, (category, word) in enumerate(pairs)]


def fact_records(n: int, seed: int) -> list[dict]:
    return [_fact_record(fact, i) for i, fact in enumerate(_take(_fact_questions(seed), n, "toy_facts"))]


# The kinds whose generators live here, as the registry names them.
KINDS = tuple(name for name, spec in REGISTRY.items() if isinstance(spec.toy, str) and spec.toy.startswith(__name__ + ":"))


def generate(kind: str, n: int, seed: int) -> list[dict]:
    """``n`` records of ``kind`` (one of ``KINDS``), the same for the same seed."""
    if kind not in KINDS:
        raise ValueError(f"unknown facts dataset {kind!r}; expected one of {', '.join(KINDS)}")
    return REGISTRY[kind].toy_records(n, seed)
