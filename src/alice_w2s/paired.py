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

from alice_w2s.pgr import percentile_interval, seeds_then_items
from alice_w2s.plan import cell_in_seed, parse_key

MEAN = "mean"

# `seed`: the run's seed, or "mean" for the comparison pooled over several seeds.
COLUMNS = [
    "block", "dataset", "comparison", "model", "other", "seed", "n", "accuracy", "other_accuracy", "difference",
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
    return _result(a, b, a.size, low, high)


def planned_pairs(cells: list[dict]) -> list[tuple[dict, dict, str]]:
    """(Alice cell, other cell, what is compared) for each comparison a table's cells
    allow; the better W2SG row is picked by the caller (it needs accuracies), so
    every W2SG candidate is listed with kind "w2s"."""
    pairs = []
    by_model = {(c["dataset"], c["model"]): c for c in cells}
    for cell in cells:
        key = parse_key(cell["model"])
        if key.method != "alice":
            continue
        for other in cells:
            theirs = parse_key(other["model"])
            same_pair = (theirs.name, theirs.first_teachers) == (key.name, key.first_teachers)
            if (other["block"], other["dataset"]) == (cell["block"], cell["dataset"]) and \
                    theirs.method in W2S_METHODS and same_pair:
                pairs.append((cell, other, "w2s"))
        ablation_key = str(dataclasses.replace(key, method="alice-no-unc"))
        ablation = by_model.get((cell["dataset"], ablation_key))
        if ablation is not None:
            pairs.append((cell, ablation, "ablation"))
    return pairs


def pooled_difference(
    a: np.ndarray, b: np.ndarray, iterations: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """``paired_difference`` over several seeds' runs, ``a`` and ``b`` of shape
    (seeds, items): the difference of the accuracies over all runs, its interval from
    resampling the seeds, then each drawn seed's items (both models on each draw),
    and McNemar's exact p on the discordant (seed, item) pairs of all seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError("a pooled comparison needs both models' runs on the same, non-empty item list")
    means = seeds_then_items((a - b)[:, None, :], iterations, seed)[:, 0]
    low, high = percentile_interval(means, confidence)
    return _result(a, b, a.shape[1], low, high)


def _result(a: np.ndarray, b: np.ndarray, n: int, low: float, high: float) -> dict:
    """A comparison's row: accuracies, the difference and its interval, the discordant
    counts (over every run given) and McNemar's exact p on them."""
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    return {
        "n": int(n),
        "accuracy": float(a.mean()),
        "other_accuracy": float(b.mean()),
        "difference": float((a - b).mean()),
        "difference_low": low,
        "difference_high": high,
        "only_model_right": only_a,
        "only_other_right": only_b,
        "mcnemar_p": mcnemar_exact_p(only_a, only_b),
        "note": "within noise" if low <= 0 <= high else "",
    }


def chosen_pairs(cells: list[dict], accuracy_of) -> list[tuple[dict, dict, str]]:
    """(Alice cell, other cell, label) of each comparison: Alice - the better
    original-W2SG row of its block (by ``accuracy_of(cell)``), and Alice - its
    w/o-uncertainty ablation."""
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
    return list(chosen.values())


def compare(cells: list[dict], runs: list[dict], correct_of, accuracy_of, bootstrap: dict) -> pd.DataFrame:
    """One row per comparison (``chosen_pairs``) and seed (``runs``: each seed and its
    keys, as tables.collect's), then with several seeds one pooled row (seed "mean").
    ``correct_of(dataset, model)`` gives the per-item 0/1 frame (id, correct),
    ``accuracy_of(cell)`` the cell's accuracy (over seeds) the better W2SG row is
    chosen by."""
    settings = (bootstrap["bootstrap_iterations"], bootstrap["confidence"], bootstrap["seed"])
    rows = []
    for alice, other, label in chosen_pairs(cells, accuracy_of):
        pairs, per_seed = [], []
        for run in runs:
            mine, theirs = cell_in_seed(alice, run)["model"], cell_in_seed(other, run)["model"]
            a, b = _aligned(correct_of, alice["dataset"], mine, theirs)
            pairs.append((a, b))
            per_seed.append({"block": alice["block"], "dataset": alice["dataset"], "comparison": label, "model": mine,
                             "other": theirs, "seed": run["seed"], **paired_difference(a, b, *settings)})
        if len(runs) > 1:
            if len({len(a) for a, _ in pairs}) != 1:
                raise ValueError(f"{alice['model']}: its seeds' runs were evaluated on different item lists")
            pooled = pooled_difference(np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs]), *settings)
            rows.append({"block": alice["block"], "dataset": alice["dataset"], "comparison": label,
                         "model": alice["model"], "other": other["model"], "seed": MEAN, **pooled})
        rows += per_seed
    return pd.DataFrame(rows, columns=COLUMNS)


def _aligned(correct_of, dataset: str, model: str, other: str) -> tuple[np.ndarray, np.ndarray]:
    """Two models' 0/1 correctness on the same items, in one item order (by id)."""
    mine = correct_of(dataset, model).set_index("id")["correct"]
    theirs = correct_of(dataset, other).set_index("id")["correct"]
    if set(mine.index) != set(theirs.index):
        raise ValueError(f"{model} and {other} were not evaluated on the same items")
    return mine.to_numpy(dtype=float), theirs.loc[mine.index].to_numpy(dtype=float)


def to_markdown(frame: pd.DataFrame, confidence: float) -> list[str]:
    """The comparisons as Markdown lines (empty when there are none); with several
    seeds, each comparison pooled over them (compare's order), then per seed."""
    if frame.empty:
        return []
    level = f"{round(100 * confidence)}%"
    seeded = (frame["seed"].astype(str) == MEAN).any()
    lines = [
        "## Paired comparisons",
        "",
        f"Difference in accuracy (points) on the same eval items, with a {level} paired-bootstrap interval; "
        "items only one of the two got right; McNemar's exact p on those items. "
        "\"within noise\" where the interval holds 0.",
        "",
    ]
    if seeded:
        lines[-1:-1] = [
            "Seed \"mean\": pooled over the seeds, the interval resampling the seeds, then each drawn seed's "
            "items; McNemar's p on the discordant (seed, item) pairs of all seeds.",
        ]
    seed_head, seed_rule = ("Seed | ", "---|") if seeded else ("", "")
    lines += [
        f"| Block | Comparison | Dataset | {seed_head}Difference [interval] | Only Alice right / only the other | McNemar p |",
        f"|---|---|---|{seed_rule}---|---|---|",
    ]
    for row in frame.itertuples():
        note = f" ({row.note})" if row.note else ""
        seed = f"{row.seed} | " if seeded else ""
        lines.append(
            f"| {row.block} | {row.comparison} | {row.dataset} | {seed}{100 * row.difference:+.1f} "
            f"[{100 * row.difference_low:+.1f}, {100 * row.difference_high:+.1f}]{note} | "
            f"{row.only_model_right} / {row.only_other_right} | {row.mcnemar_p:.3g} |"
        )
    return lines + [""]
