"""Paired comparisons of two methods on the same eval items: the difference in
accuracy with a paired-bootstrap interval, and McNemar's exact test on the items
where exactly one of the two is right.

A table compares, in each block and dataset, every Alice row with the better of
its block's original-W2SG rows (Q-A, Q-CoT-A) of the same student and first
teacher, and with its own ablation without
the teacher's uncertainty (the same chain ``@alice-no-unc``, anywhere in the
table), when those rows exist.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from alice_w2s.pgr import percentile_interval
from alice_w2s.plan import parse_key

COLUMNS = [
    "block", "dataset", "comparison", "model", "other", "n", "accuracy", "other_accuracy", "difference",
    "difference_low", "difference_high", "only_model_right", "only_other_right", "mcnemar_p", "note",
]
W2S_METHODS = ("w2s-qa", "w2s-cot")


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p: under "no difference" each discordant item is a fair
    coin, so the smaller count is Binomial(only_a + only_b, 1/2); 1 with none."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_difference(
    a: np.ndarray, b: np.ndarray, iterations: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """accuracy(a) - accuracy(b) over the same items (0/1 arrays in one item order),
    its percentile interval from resampling items (both models on each draw), and
    McNemar's exact p."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("a paired comparison needs both models on the same, non-empty item list")
    differences = a - b
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, a.size, size=(iterations, a.size))
    low, high = percentile_interval(differences[draws].mean(axis=1), confidence)
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    return {
        "n": int(a.size),
        "accuracy": float(a.mean()),
        "other_accuracy": float(b.mean()),
        "difference": float(differences.mean()),
        "difference_low": low,
        "difference_high": high,
        "only_model_right": only_a,
        "only_other_right": only_b,
        "mcnemar_p": mcnemar_exact_p(only_a, only_b),
        "note": "within noise" if low <= 0 <= high else "",
    }


def planned_pairs(cells: list[dict]) -> list[tuple[dict, dict, str]]:
    """(Alice cell, other cell, what is compared) for each comparison a table's cells
    allow; the better W2SG row is picked by the caller (it needs accuracies), so
    every W2SG candidate is listed with kind "w2s"."""
    pairs = []
    by_model = {(c["dataset"], c["model"]): c for c in cells}
    for cell in cells:
        key = parse_key(cell["model"])
        if key.recipe != "alice":
            continue
        for other in cells:
            theirs = parse_key(other["model"])
            same_pair = (theirs.name, theirs.first_teachers) == (key.name, key.first_teachers)
            if (other["block"], other["dataset"]) == (cell["block"], cell["dataset"]) and \
                    theirs.recipe in W2S_METHODS and same_pair:
                pairs.append((cell, other, "w2s"))
        ablation_key = str(dataclasses.replace(key, recipe="alice-no-unc"))
        ablation = by_model.get((cell["dataset"], ablation_key))
        if ablation is not None:
            pairs.append((cell, ablation, "ablation"))
    return pairs


def compare(cells: list[dict], correct_of, accuracy_of, bootstrap: dict) -> pd.DataFrame:
    """One row per comparison: Alice - the better original-W2SG row of its block, and
    Alice - its w/o-uncertainty ablation. ``correct_of(dataset, model)`` gives the
    per-item 0/1 frame (id, correct), ``accuracy_of`` the cell's accuracy."""
    rows = []
    chosen: dict[tuple, tuple] = {}
    for alice, other, kind in planned_pairs(cells):
        if kind == "w2s":
            slot = (alice["block"], alice["dataset"], alice["model"])
            best = chosen.get(slot)
            if best is None or accuracy_of(other) > accuracy_of(best[1]):
                chosen[slot] = (alice, other, f"Alice - {other['row']} (the better W2SG row)")
        else:
            chosen[(alice["block"], alice["dataset"], alice["model"], "ablation")] = (
                alice, other, f"Alice - {other['row']}")
    for alice, other, label in chosen.values():
        mine = correct_of(alice["dataset"], alice["model"]).set_index("id")["correct"]
        theirs = correct_of(other["dataset"], other["model"]).set_index("id")["correct"]
        if set(mine.index) != set(theirs.index):
            raise ValueError(f"{alice['model']} and {other['model']} were not evaluated on the same items")
        result = paired_difference(
            mine.to_numpy(dtype=float), theirs.loc[mine.index].to_numpy(dtype=float),
            bootstrap["bootstrap_iterations"], bootstrap["confidence"], bootstrap["seed"],
        )
        rows.append({"block": alice["block"], "dataset": alice["dataset"], "comparison": label,
                     "model": alice["model"], "other": other["model"], **result})
    return pd.DataFrame(rows, columns=COLUMNS)


def to_markdown(frame: pd.DataFrame, confidence: float) -> list[str]:
    """The comparisons as Markdown lines (empty when there are none)."""
    if frame.empty:
        return []
    level = f"{round(100 * confidence)}%"
    lines = [
        "## Paired comparisons",
        "",
        f"Difference in accuracy (points) on the same eval items, with a {level} paired-bootstrap interval; "
        "items only one of the two got right; McNemar's exact p on those items. "
        "\"within noise\" where the interval holds 0.",
        "",
        "| Block | Comparison | Dataset | Difference [interval] | Only Alice right / only the other | McNemar p |",
        "|---|---|---|---|---|---|",
    ]
    for row in frame.itertuples():
        note = f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.block} | {row.comparison} | {row.dataset} | {100 * row.difference:+.1f} "
            f"[{100 * row.difference_low:+.1f}, {100 * row.difference_high:+.1f}]{note} | "
            f"{row.only_model_right} / {row.only_other_right} | {row.mcnemar_p:.3g} |"
        )
    return lines + [""]
