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
``qwen-1.5b~qwen-3b@w2s-cot``         the same pair, original W2SG from a Q-CoT-A teacher
``a~b~c@alice``                       cascade: ``c`` taught by ``a~b@alice.c2`` on slice 2/2
``a~b@alice.c2``                      first link of a 2-link cascade: slice 1/2 of the pool
====================================  =================================================

A chain of ``L`` models has ``L - 1`` links; the transfer pool is cut into
``n`` consecutive slices (``n`` = the ``.cN`` suffix, or ``L - 1``), and the
link that trains the chain's last model uses slice ``L - 1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHAIN_SEP = "~"
TEACHER_RECIPES = ("teacher-cot", "teacher-qa", "gold")
# method -> the base teacher recipe its first link starts from
STUDENT_METHODS = {"alice": "teacher-cot", "w2s-cot": "teacher-cot", "w2s-qa": "teacher-qa"}
MODEL_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_KEY_RE = re.compile(rf"^(?P<chain>{MODEL_NAME_RE}(?:{CHAIN_SEP}{MODEL_NAME_RE})*)(?:@(?P<recipe>[a-z0-9-]+)(?:\.c(?P<links>\d+))?)?$")


@dataclass(frozen=True)
class ModelKey:
    chain: tuple[str, ...]
    recipe: str | None  # None = untouched base model
    links: int  # total links of the cascade this model belongs to (students only)

    @property
    def name(self) -> str:
        """The base model whose weights this key starts from (the last in the chain)."""
        return self.chain[-1]

    @property
    def is_base(self) -> bool:
        return self.recipe is None

    @property
    def is_student(self) -> bool:
        return self.recipe in STUDENT_METHODS

    @property
    def link(self) -> int:
        return len(self.chain) - 1

    @property
    def pool(self) -> str:
        """Which slice of the transfer pool this student's labels are made on."""
        return pool_name(self.link, self.links)

    def __str__(self) -> str:
        text = CHAIN_SEP.join(self.chain)
        if self.recipe is None:
            return text
        text += f"@{self.recipe}"
        if self.is_student and self.links != self.link:
            text += f".c{self.links}"
        return text


def pool_name(link: int, links: int) -> str:
    return "all" if links == 1 else f"s{link}of{links}"


def parse_key(key: str) -> ModelKey:
    match = _KEY_RE.match(key)
    if not match:
        raise ValueError(f"not a model key: {key!r}")
    chain = tuple(match["chain"].split(CHAIN_SEP))
    recipe = match["recipe"]
    if recipe is None:
        if len(chain) != 1:
            raise ValueError(f"model key {key!r}: a chain needs a method, e.g. {key}@alice")
        return ModelKey(chain, None, 0)
    if recipe in TEACHER_RECIPES:
        if len(chain) != 1 or match["links"]:
            raise ValueError(f"model key {key!r}: {recipe} takes a single model")
        return ModelKey(chain, recipe, 0)
    if recipe not in STUDENT_METHODS:
        known = ", ".join([*TEACHER_RECIPES, *STUDENT_METHODS])
        raise ValueError(f"model key {key!r}: unknown recipe {recipe!r}; known: {known}")
    if len(chain) < 2:
        raise ValueError(f"model key {key!r}: {recipe} needs a teacher and a student, e.g. a~b@{recipe}")
    links = int(match["links"]) if match["links"] else len(chain) - 1
    if links < len(chain) - 1:
        raise ValueError(f"model key {key!r}: .c{links} is shorter than the chain")
    return ModelKey(chain, recipe, links)


def teacher_of(key: ModelKey) -> ModelKey:
    """The model that supervises a student key's link."""
    if not key.is_student:
        raise ValueError(f"{key} is not a student key")
    if len(key.chain) == 2:
        return ModelKey(key.chain[:1], STUDENT_METHODS[key.recipe], 0)
    return ModelKey(key.chain[:-1], key.recipe, key.links)


def select_pool(n_rows: int, pool: str) -> slice:
    """Row positions of a pool: ``all`` or consecutive slice ``s{k}of{n}``."""
    if pool == "all":
        return slice(0, n_rows)
    match = re.fullmatch(r"s(\d+)of(\d+)", pool)
    if not match:
        raise ValueError(f"not a pool name: {pool!r}")
    k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n:
        raise ValueError(f"pool {pool!r}: slice {k} of {n} does not exist")
    bounds = [round(i * n_rows / n) for i in range(n + 1)]
    return slice(bounds[k - 1], bounds[k])


# --- tables ------------------------------------------------------------------------

TABLE1_ROWS = (
    ("Weak", "{weak}@gold"),
    ("Original W2SG (Q-A)", "{weak}~{strong}@w2s-qa"),
    ("Original W2SG (Q-CoT-A)", "{weak}~{strong}@w2s-cot"),
    ("Alice", "{weak}~{strong}@alice"),
    ("Strong", "{strong}@gold"),
)


def table1_cells(table_cfg: dict) -> list[dict]:
    """Every (block, row, dataset) cell of Table 1 with the model key it evaluates."""
    cells = []
    for block in table_cfg["blocks"]:
        for row_label, template in TABLE1_ROWS:
            key = template.format(weak=block["weak"], strong=block["strong"])
            for dataset in table_cfg["datasets"]:
                cells.append({"block": block["name"], "row": row_label, "dataset": dataset, "model": key})
    return cells
