"""Performance gap recovered with a paired bootstrap over evaluation items (and,
with several seeds, over the seeds' runs first).

PGR = (student - weak) / (strong - weak). The three models answer the same eval
items, so each bootstrap draw resamples item positions once and recomputes all
three accuracies on that draw (paired). The interval is the percentile interval of
the draws. Where the strong-weak gap's own interval holds 0, the gap is noise and
no PGR is reported; nor where Strong is reliably below Weak, where PGR's sign
would mislead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CHUNK = 200  # draws per block, to bound memory on large eval sets


def align(student: pd.DataFrame, weak: pd.DataFrame, strong: pd.DataFrame) -> np.ndarray:
    """A (3, n) 0/1 matrix of the three models' correctness on the same items, by id."""
    frames = [f.set_index("id")["correct"] for f in (student, weak, strong)]
    ids = frames[0].index
    for other in frames[1:]:
        if len(other) != len(ids) or set(other.index) != set(ids):
            raise ValueError("PGR needs the three models evaluated on the same items")
    return np.stack([f.loc[ids].to_numpy(dtype=float) for f in frames])


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of bootstrap draws."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap(
    correct: np.ndarray, iterations: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """PGR and the strong-weak gap with percentile intervals from a paired bootstrap
    of the items; ``correct`` rows are student, weak, strong."""
    n = correct.shape[1]
    if n == 0:
        raise ValueError("PGR needs at least one eval item")
    rng = np.random.default_rng(seed)
    means = np.empty((iterations, 3))
    for start in range(0, iterations, CHUNK):
        draws = rng.integers(0, n, size=(min(CHUNK, iterations - start), n))
        means[start : start + len(draws)] = correct[:, draws].mean(axis=2).T
    return _from_draws(correct.mean(axis=1), means, confidence)


def seeds_bootstrap(
    correct: np.ndarray, iterations: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """PGR over several seeds' runs, ``correct`` of shape (seeds, 3, items): the point
    is PGR of the accuracies averaged over seeds; each bootstrap draw resamples the
    seeds, then, for each drawn seed, the items (all three models on each draw), so
    the interval holds both the run-to-run and the item noise. One seed:
    ``paired_bootstrap`` (the same draws as a single-seed table's)."""
    seeds, rows, n = correct.shape
    if seeds == 1:
        return paired_bootstrap(correct[0], iterations, confidence, seed)
    if n == 0:
        raise ValueError("PGR needs at least one eval item")
    return _from_draws(correct.mean(axis=(0, 2)), seeds_then_items(correct, iterations, seed), confidence)


def seeds_then_items(values: np.ndarray, iterations: int, seed: int) -> np.ndarray:
    """Bootstrap means of ``values`` (seeds, rows, items), one row per draw: each draw
    resamples the seeds, then, for each drawn seed, the items (every row on the same
    items), and averages over both. Used for PGR and for pooled paired comparisons."""
    seeds, rows, n = values.shape
    rng = np.random.default_rng(seed)
    means = np.empty((iterations, rows))
    chunk = max(1, CHUNK // seeds)
    for start in range(0, iterations, chunk):
        size = min(chunk, iterations - start)
        runs = rng.integers(0, seeds, size=(size, seeds))
        items = rng.integers(0, n, size=(size, seeds, n))
        # picked[d, s, r, i] = values[runs[d, s], r, items[d, s, i]]
        picked = values[runs[:, :, None, None], np.arange(rows)[None, None, :, None], items[:, :, None, :]]
        means[start : start + size] = picked.mean(axis=(1, 3))
    return means


def _from_draws(point: np.ndarray, means: np.ndarray, confidence: float) -> dict:
    """PGR and the gap from the point accuracies (student, weak, strong) and the
    bootstrap draws' accuracies (one row per draw)."""
    student, weak, strong = point
    gaps = means[:, 2] - means[:, 1]
    gap_low, gap_high = percentile_interval(gaps, confidence)
    result = {
        "gap": float(strong - weak),
        "gap_low": float(gap_low),
        "gap_high": float(gap_high),
        "pgr": None,
        "pgr_low": None,
        "pgr_high": None,
        "pgr_note": "",
    }
    if gap_low <= 0 <= gap_high:
        result["pgr_note"] = "gap within noise"
        return result
    if gap_high < 0:  # PGR's sign would invert: a student below Weak would score > 0
        result["pgr_note"] = "Strong below Weak"
        return result
    with np.errstate(divide="ignore", invalid="ignore"):
        pgrs = (means[:, 0] - means[:, 1]) / gaps
    pgrs = pgrs[np.isfinite(pgrs)]
    low, high = percentile_interval(pgrs, confidence)
    result.update(pgr=float((student - weak) / (strong - weak)), pgr_low=low, pgr_high=high)
    return result
