"""Model keys: one flat, path-safe name per model, from which the workflow
derives every upstream artifact.

A key names how a model was made, so two experiments that need the same model
resolve to the same path and Snakemake builds it once:

====================================  =================================================
key                                   meaning
====================================  =================================================
``qwen-1.5b``                         the base model from ``config.models``
``qwen-1.5b@teacher-cot``             base fine-tuned on the teacher half, Q-CoT-A
``qwen-1.5b@teacher-qa``              base fine-tuned on the teacher half, Q-A
``qwen-1.5b@gold``                    base fine-tuned on the transfer half's gold labels
``qwen-1.5b~qwen-3b@alice``           student ``qwen-3b`` trained by Alice from the
                                      ``qwen-1.5b@teacher-cot`` teacher on the whole pool
``qwen-1.5b~qwen-3b@alice-no-unc``    the same, the teacher's uncertainty left out
``qwen-1.5b~qwen-3b@w2s-cot``         the same pair, original W2SG from a Q-CoT-A teacher
``a+b~c@alice``                       several teachers (``a@teacher-cot``, ``b@teacher-cot``)
                                      in one synthesis prompt for student ``c``
``a~b~c@alice``                       cascade: ``c`` taught by ``a~b@alice.c2`` on slice 2/2
``a~b@alice.c2``                      first link of a 2-link cascade: slice 1/2 of the pool
``a~b@alice.s1``                      ``a~b@alice`` run with seed 1, every stochastic
                                      stage upstream of it (teacher SFT, sampling,
                                      zero-shot, synthesis, SFT) too
``b.s1``                              base model ``b`` in seed 1's runs: the CoT filter's
                                      and zero-shot's outputs per seed; the weights are ``b``'s
====================================  =================================================

A chain of ``L`` models has ``L - 1`` links; the transfer pool is cut into
``n`` consecutive slices (``n`` = the ``.cN`` suffix, or ``L - 1``), and the
link that trains the chain's ``j``-th model uses slice ``j``. A first link's
labels are the rows of its slice in the direct pair's labels (``a~b@alice.c2``
takes slice 1/2 of ``a~b@alice``'s), so the cascade and the single-turn
experiment share one teacher run, as in the reference scripts.

A key without ``.sN`` runs with the config's ``seed`` (so one seed keeps the paths
of runs made before seeds were an axis); each other seed of ``seeds`` gets the
suffix, which every key derived from it (teachers, training sets) carries along.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from alice_w2s import pipeline

CHAIN_SEP = "~"
GROUP_SEP = "+"

# --- methods -------------------------------------------------------------------------
# A method (the part of a key after "@": how the model was made) is defined here and
# nowhere else: the rules, the preflight and the config ask this module what a key
# means. ("Recipe" is only ever the SFT hyper-parameters: config `sft`, sft.Recipe.)
# Adding a method is an entry in METHODS, plus a stage (alice_w2s.pipeline, with `makes`) only if its
# training set is made in a new way.

# Where each rule that makes a training set writes it, relative to the results
# folder: declared with its stage (alice_w2s.pipeline).
TRAINING_SETS = pipeline.TRAINING_SETS


@dataclass(frozen=True)
class Method:
    """What a method means: how its training set is made and how it is trained."""

    training_set: str  # which TRAINING_SETS entry (and so which rule) makes its labels
    sft_role: str  # one of SFT_ROLE_NAMES
    # Students only: the method of the base teachers their first link is taught by.
    teacher_method: str | None = None
    several_teachers: bool = False  # a first link may name several teachers (a+b~c)
    uses_uncertainty: bool = False  # the student reads its teachers' uncertainty summaries
    # A pair w~s, not a student: s is fine-tuned on w's own training set of this kind
    # (w's CoT-filter survivors for teacher_cot), as a ceiling that learns from reasoning.
    learns_teacher_set: bool = False

    @property
    def is_student(self) -> bool:
        return self.teacher_method is not None


METHODS = {
    "teacher-cot": Method("teacher_cot", "teacher"),
    "teacher-qa": Method("teacher_qa", "teacher"),
    "gold": Method("gold_sets", "baseline"),
    "cot-ceiling": Method("teacher_cot", "baseline", learns_teacher_set=True),
    "alice": Method("synthesized", "student", "teacher-cot", several_teachers=True, uses_uncertainty=True),
    "alice-no-unc": Method("synthesized", "student", "teacher-cot", several_teachers=True),
    "w2s-cot": Method("w2s_answers", "student", "teacher-cot"),
    "w2s-qa": Method("w2s_answers", "student", "teacher-qa"),
}
# The SFT roles whose overrides (config `sft.roles`) a method trains with.
SFT_ROLE_NAMES = tuple(dict.fromkeys(method.sft_role for method in METHODS.values()))


def sft_role(method: str | None) -> str:
    """The SFT role a model made by ``method`` has: teacher, baseline or student."""
    return METHODS[method].sft_role if method in METHODS else "student"


MODEL_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_GROUP_RE = rf"{MODEL_NAME_RE}(?:\{GROUP_SEP}{MODEL_NAME_RE})*"
_KEY_RE = re.compile(
    rf"^(?P<chain>{_GROUP_RE}(?:{CHAIN_SEP}{MODEL_NAME_RE})*)(?:@(?P<method>[a-z0-9-]+)(?:\.c(?P<links>\d+))?)?$"
)
# A key's seed suffix; model names may not end like it (config validation).
SEED_SUFFIX_RE = re.compile(r"\.s(?P<seed>0|[1-9]\d*)$")


@dataclass(frozen=True)
class ModelKey:
    chain: tuple[str, ...]  # chain[0] may name several teachers joined by "+"
    method: str | None  # None = untouched base model
    links: int  # total links of the cascade this model belongs to (students only)
    seed: int | None = None  # None: the config's `seed`; else the run of seed N (".sN")

    @property
    def name(self) -> str:
        """The base model whose weights this key starts from (the last in the chain)."""
        return self.chain[-1]

    @property
    def first_teachers(self) -> tuple[str, ...]:
        """The base models at the head of the chain (several for multi-teacher)."""
        return tuple(self.chain[0].split(GROUP_SEP))

    @property
    def base_models(self) -> tuple[str, ...]:
        """Every base model the key refers to, in chain order."""
        return (*self.first_teachers, *self.chain[1:])

    @property
    def is_base(self) -> bool:
        return self.method is None

    @property
    def seeded_name(self) -> str:
        """The base model's name in this key's seed: the name outputs made from the
        base model by a stochastic stage (CoT filter, zero-shot) are filed under."""
        return self.name + self.seed_suffix

    @property
    def seed_suffix(self) -> str:
        return "" if self.seed is None else f".s{self.seed}"

    @property
    def spec(self) -> Method | None:
        """What the key's method means (None for a base model)."""
        return METHODS.get(self.method) if self.method is not None else None

    @property
    def is_student(self) -> bool:
        return self.spec is not None and self.spec.is_student

    @property
    def is_alice(self) -> bool:
        """The student synthesizes its own labels from its teachers' answers."""
        return self.spec is not None and self.spec.training_set == "synthesized"

    @property
    def uses_uncertainty(self) -> bool:
        """Alice students read their teachers' uncertainty, unless ablated."""
        return self.spec is not None and self.spec.uses_uncertainty

    @property
    def link(self) -> int:
        return len(self.chain) - 1

    @property
    def pool(self) -> str:
        """Which slice of the transfer pool this student's labels cover."""
        return pool_name(self.link, self.links)

    @property
    def is_sliced(self) -> bool:
        """A cascade's first link: its labels are a slice of the direct pair's."""
        return self.link == 1 and self.links > 1

    @property
    def work_pool(self) -> str:
        """The pool the teacher and student answer for this link. First links work on
        the whole pool (shared with the direct pair) and are sliced afterwards."""
        return "all" if self.link == 1 else self.pool

    def __str__(self) -> str:
        text = CHAIN_SEP.join(self.chain)
        if self.method is None:
            return text + self.seed_suffix
        text += f"@{self.method}"
        if self.is_student and self.links != self.link:
            text += f".c{self.links}"
        return text + self.seed_suffix


def pool_name(link: int, links: int) -> str:
    return "all" if links == 1 else f"s{link}of{links}"


def parse_key(key: str) -> ModelKey:
    seeded = SEED_SUFFIX_RE.search(key)
    if seeded is None:
        return _parse_unseeded(key)
    parsed = _parse_unseeded(key[: seeded.start()])
    return dataclasses.replace(parsed, seed=int(seeded["seed"]))


def with_seed(key: str | ModelKey, seed: int, run_seed: int) -> str:
    """``key`` (seedless) in the runs of ``seed``: unchanged for the config's own
    seed ``run_seed``, else with ``.s<seed>``."""
    parsed = parse_key(key) if isinstance(key, str) else key
    if parsed.seed is not None:
        raise ValueError(f"{parsed} already names a seed")
    return str(parsed if seed == run_seed else dataclasses.replace(parsed, seed=seed))


def unseeded(key: str | ModelKey) -> ModelKey:
    """``key`` without its seed suffix."""
    parsed = parse_key(key) if isinstance(key, str) else key
    return dataclasses.replace(parsed, seed=None)


def _parse_unseeded(key: str) -> ModelKey:
    match = _KEY_RE.match(key)
    if not match:
        raise ValueError(f"not a model key: {key!r}")
    chain = tuple(match["chain"].split(CHAIN_SEP))
    method = match["method"]
    grouped = GROUP_SEP in chain[0]
    if method is None:
        if len(chain) != 1 or grouped:
            raise ValueError(f"model key {key!r}: a chain needs a method, e.g. {key}@alice")
        return ModelKey(chain, None, 0)
    if method not in METHODS:
        raise ValueError(f"model key {key!r}: unknown method {method!r}; known: {', '.join(METHODS)}")
    if METHODS[method].learns_teacher_set:
        if len(chain) != 2 or grouped or match["links"]:
            raise ValueError(f"model key {key!r}: {method} takes a pair, weak~strong, e.g. a~b@{method}")
        return ModelKey(chain, method, 0)
    if not METHODS[method].is_student:
        if len(chain) != 1 or grouped or match["links"]:
            raise ValueError(f"model key {key!r}: {method} takes a single model")
        return ModelKey(chain, method, 0)
    if len(chain) < 2:
        raise ValueError(f"model key {key!r}: {method} needs a teacher and a student, e.g. a~b@{method}")
    if grouped and not METHODS[method].several_teachers:
        raise ValueError(f"model key {key!r}: several teachers ({chain[0]}) need an Alice method")
    teachers = chain[0].split(GROUP_SEP)
    if len(set(teachers)) != len(teachers):
        raise ValueError(f"model key {key!r}: a teacher is named twice in {chain[0]}")
    links = int(match["links"]) if match["links"] else len(chain) - 1
    if links < len(chain) - 1:
        raise ValueError(f"model key {key!r}: .c{links} is shorter than the chain")
    return ModelKey(chain, method, links)


def teachers_of(key: ModelKey) -> list[ModelKey]:
    """The models that supervise a student key's link, in prompt order."""
    if not key.is_student:
        raise ValueError(f"{key} is not a student key")
    if key.link == 1:
        return [ModelKey((name,), METHODS[key.method].teacher_method, 0, key.seed) for name in key.first_teachers]
    return [ModelKey(key.chain[:-1], key.method, key.links, key.seed)]


def teacher_of(key: ModelKey) -> ModelKey:
    """The single model that supervises a student key's link."""
    teachers = teachers_of(key)
    if len(teachers) != 1:
        raise ValueError(f"{key} has {len(teachers)} teachers")
    return teachers[0]


def direct_of(key: ModelKey) -> ModelKey:
    """For a cascade's first link, the direct pair whose labels it takes a slice of."""
    if not key.is_sliced:
        raise ValueError(f"{key} is not the first link of a cascade")
    return dataclasses.replace(key, links=1)


def training_set_maker(key: str | ModelKey) -> str:
    """Which TRAINING_SETS entry (so which rule) makes a trained key's labels."""
    parsed = parse_key(key) if isinstance(key, str) else key
    if parsed.is_base:
        raise ValueError(f"{parsed} is a base model: it has no training set")
    return "sliced" if parsed.is_sliced else METHODS[parsed.method].training_set


def training_set(dataset: str, key: str | ModelKey) -> str:
    """The labels file a trained key is fine-tuned on, relative to the results folder."""
    parsed = parse_key(key) if isinstance(key, str) else key
    template = TRAINING_SETS[training_set_maker(parsed)]
    # {name}: whose training set it is: the trained model's, or for a pair that learns
    # its teacher's set (cot-ceiling) the teacher's
    owner = parsed.first_teachers[0] + parsed.seed_suffix if parsed.spec.learns_teacher_set else parsed.seeded_name
    fields = {"dataset": dataset, "key": str(parsed), "name": owner, "method": parsed.method}
    if "{teacher}" in template:
        fields["teacher"] = str(teacher_of(parsed))
    if "{pool}" in template:
        fields["pool"] = parsed.work_pool
    return template.format(**fields)


def check_training_set_maker(key: str, maker: str) -> ModelKey:
    """``key`` parsed, if its training set is made by ``maker``; a rule's input
    functions call this so that a path no plan asks for fails with one clear line."""
    parsed = parse_key(key)
    if training_set_maker(parsed) != maker:
        raise ValueError(f"{key}: its training set is not made by {maker}, but by {training_set_maker(parsed)}")
    return parsed


def chain_label(key: str) -> str:
    """A reader's name for a key's chain: ``a + b -> c``."""
    parsed = parse_key(key)
    return " -> ".join(part.replace(GROUP_SEP, " + ") for part in parsed.chain)


# --- tables ------------------------------------------------------------------------

# Table 1's rows for one chain [weak, ..., strong]; a longer chain is its cascade.
TABLE1_ROWS = (
    ("Weak", "{weak}@gold"),
    ("Original W2SG (Q-A)", "{w2s_chain}@w2s-qa"),
    ("Original W2SG (Q-CoT-A)", "{w2s_chain}@w2s-cot"),
    ("Alice", "{chain}@alice"),
)
# The Strong rows a chain block may show (its `ceilings`, default [gold]); the first
# is its PGR's ceiling: (row label, model key, what the model learned from).
CEILING_ROWS = {
    "gold": (
        "Strong", "{strong}@gold",
        "the paper's Strong: fine-tuned on the transfer pool's gold labels "
        "(answers; Q-CoT-A where the data has worked solutions, as GSM8K)",
    ),
    "cot": (
        "Strong (Q-CoT-A)", "{weak}~{strong}@cot-ceiling",
        "fine-tuned on the weak teacher's Q-CoT-A set (its CoT-filter survivors on the teacher half; "
        "GSM8K: the human worked solutions), a ceiling that learns from reasoning as the students do",
    ),
}


def ceiling_meaning(key: str) -> str:
    """What a PGR ceiling (a Strong key) learned from, for the tables' text."""
    parsed = parse_key(key)
    for _, template, meaning in CEILING_ROWS.values():
        if template.rsplit("@", 1)[1] == parsed.method:
            return meaning
    return "a model key the table names"


def ceilings_text(strong_keys) -> str:
    """The PGR ceilings behind a table's rows (their Strong keys, any seed), each once,
    in words: "key, what it learned from; ..." (empty for none)."""
    ceilings = dict.fromkeys(str(unseeded(key)) for key in strong_keys)
    return "; ".join(f"{key}, {ceiling_meaning(key)}" for key in ceilings)


def block_rows(block: dict) -> list[dict]:
    """A table block's rows: listed in config, or Table 1's rows for a chain: Weak,
    the original-W2SG rows, Alice, then a Strong row per entry of its ``ceilings``
    (``CEILING_ROWS``; the first is every row's PGR ceiling).

    In a cascade block the original-W2SG rows are weak -> strong directly unless the
    block sets ``w2s_baseline: cascade``: the paper's Table 1 cascade W2SG numbers
    differ from its Table 3 cascaded W2SG while its Alice numbers match (docs/how-it-works.md "Tables")."""
    if "rows" in block:
        return [dict(row) for row in block["rows"]]
    chain = block["chain"]
    w2s_chain = chain if block.get("w2s_baseline", "direct") == "cascade" else [chain[0], chain[-1]]
    names = {"weak": chain[0], "strong": chain[-1], "chain": CHAIN_SEP.join(chain), "w2s_chain": CHAIN_SEP.join(w2s_chain)}
    rows = [{"label": label, "model": template.format(**names)} for label, template in TABLE1_ROWS]
    ceilings = [(CEILING_ROWS[c][0], CEILING_ROWS[c][1].format(**names)) for c in block.get("ceilings", ["gold"])]
    if ceilings[0][1] != f"{chain[-1]}@gold":
        rows = [{**row, "strong": ceilings[0][1]} for row in rows]
    return rows + [{"label": label, "model": key, "ceiling": True} for label, key in ceilings]


def reference_keys(row: dict) -> tuple[str, str]:
    """The Weak and Strong baselines a row's PGR is measured against: the chain's
    first teacher and its student, each fine-tuned on gold labels, unless the row
    names its own."""
    key = parse_key(row["model"])
    weak = row.get("weak") or f"{key.first_teachers[0]}@gold"
    strong = row.get("strong") or f"{key.name}@gold"
    return weak, strong


def table_cells(table: dict) -> list[dict]:
    """Every (block, row, dataset) cell of a table with the model key it evaluates
    and the baselines of its PGR (None for rows that are the baselines)."""
    cells = []
    for block in table["blocks"]:
        for row in block_rows(block):
            key = str(parse_key(row["model"]))
            weak, strong = reference_keys(row)
            is_reference = key in (weak, strong) or row.get("ceiling", False)
            for dataset in table["datasets"]:
                cells.append({
                    "block": block["name"],
                    "row": row["label"],
                    "setting": row.get("setting") or chain_label(key),
                    "dataset": dataset,
                    "model": key,
                    "weak": None if is_reference else weak,
                    "strong": None if is_reference else strong,
                })
    return cells


def cell_in_seed(cell: dict, run: dict) -> dict:
    """A table cell in one seed's runs (``run["keys"]``: each cell key's key there,
    job_paths.JobPaths.seed_runs): its model and baselines by their keys there."""
    keys = run["keys"]
    return {
        **cell,
        "model": keys[cell["model"]],
        "weak": keys[cell["weak"]] if cell["weak"] is not None else None,
        "strong": keys[cell["strong"]] if cell["strong"] is not None else None,
    }


def cell_models(cells: list[dict]) -> list[tuple[str, str]]:
    """The (dataset, model) evaluations a table reads, its baselines included."""
    needed = []
    for cell in cells:
        for key in (cell["model"], cell["weak"], cell["strong"]):
            if key is not None:
                needed.append((cell["dataset"], key))
    return list(dict.fromkeys(needed))


def single_run(cells: list[dict], seed: int = 0) -> list[dict]:
    """The runs of a one-seed table: every key as the cells name it."""
    return [{"seed": seed, "keys": {key: key for _, key in cell_models(cells)}}]
