"""Paired comparisons between a table's methods (alice_w2s.paired)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alice_w2s import paired, plan

BOOT = {"bootstrap_iterations": 2000, "confidence": 0.95, "seed": 0}


def test_mcnemar_exact_p_is_the_two_sided_binomial_tail():
    assert paired.mcnemar_exact_p(0, 0) == 1.0
    assert paired.mcnemar_exact_p(5, 0) == pytest.approx(2 / 32)
    # 12 discordant items split 10 / 2: 2 x P(X <= 2), X ~ Binomial(12, 1/2)
    assert paired.mcnemar_exact_p(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert paired.mcnemar_exact_p(2, 10) == paired.mcnemar_exact_p(10, 2)
    assert paired.mcnemar_exact_p(3, 3) == 1.0  # capped at 1


def test_paired_difference_counts_discordant_items_and_its_interval_follows_them():
    same = np.array([1, 0, 1, 1, 0] * 8)
    result = paired.paired_difference(same, same, **{"iterations": 500})
    assert result["difference"] == 0 and result["difference_low"] == result["difference_high"] == 0
    assert result["note"] == "within noise" and result["mcnemar_p"] == 1.0

    better = np.ones(20)
    worse = np.zeros(20)
    result = paired.paired_difference(better, worse, iterations=500)
    assert result["difference"] == 1 and result["difference_low"] == 1 and result["note"] == ""
    assert (result["only_model_right"], result["only_other_right"]) == (20, 0)
    assert result["mcnemar_p"] == pytest.approx(2 / 2**20)

    # 30 items: a right on 12 that b misses, b right on 3 that a misses, 15 tied
    a = np.array([1] * 12 + [0] * 3 + [1] * 5 + [0] * 10)
    b = np.array([0] * 12 + [1] * 3 + [1] * 5 + [0] * 10)
    result = paired.paired_difference(a, b, iterations=4000)
    assert result["difference"] == pytest.approx(9 / 30)
    assert 0 < result["difference_low"] < 9 / 30 < result["difference_high"]
    assert result["mcnemar_p"] == pytest.approx(2 * sum(math.comb(15, k) for k in range(4)) / 2**15)

    with pytest.raises(ValueError, match="same, non-empty item list"):
        paired.paired_difference(np.ones(3), np.ones(4))


def _cell(block: str, row: str, model: str, dataset: str = "d") -> dict:
    return {"block": block, "row": row, "setting": "", "dataset": dataset, "model": model, "weak": "w@gold", "strong": "s@gold"}


def test_alice_is_compared_with_the_better_w2sg_row_and_its_ablation():
    cells = [
        _cell("w -> s", "Original W2SG (Q-A)", "w~s@w2s-qa"),
        _cell("w -> s", "Original W2SG (Q-CoT-A)", "w~s@w2s-cot"),
        _cell("w -> s", "Alice", "w~s@alice"),
        _cell("Ablation", "w/o Teacher's Uncertainty", "w~s@alice-no-unc"),
        _cell("Cascade", "Alice", "w~m~s@alice"),  # no W2SG row in its block, no ablation: no comparison
        # another student in the same block is not Alice's baseline, however good
        _cell("w -> s", "Original W2SG (Q-CoT-A), other student", "w~t@w2s-cot"),
    ]
    ids = [f"q{i}" for i in range(10)]
    correct = {
        "w~s@w2s-qa": [0] * 10,
        "w~s@w2s-cot": [1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        "w~s@alice": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        "w~s@alice-no-unc": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
        "w~m~s@alice": [1] * 10,
        "w~t@w2s-cot": [1] * 10,
    }
    frames = {m: pd.DataFrame({"id": ids[::-1], "correct": v[::-1]}) for m, v in correct.items()}  # any item order
    accuracy = {m: float(np.mean(v)) for m, v in correct.items()}
    table = paired.compare(cells, plan.single_run(cells), lambda d, m: frames[m], lambda c: accuracy[c["model"]], BOOT)
    assert list(table.columns) == paired.COLUMNS
    assert table[["comparison", "other"]].values.tolist() == [
        ["Alice - Original W2SG (Q-CoT-A) (the better W2SG row)", "w~s@w2s-cot"],
        ["Alice - w/o Teacher's Uncertainty", "w~s@alice-no-unc"],
    ]
    assert table["difference"].tolist() == pytest.approx([0.2, 0.1])
    assert table["only_model_right"].tolist() == [2, 1] and table["only_other_right"].tolist() == [0, 0]
    lines = paired.to_markdown(table, 0.95)
    assert lines[0] == "## Paired comparisons" and "+20.0" in lines[-3] and "within noise" in lines[-2]

    frames["w~s@alice-no-unc"] = pd.DataFrame({"id": [f"x{i}" for i in range(10)], "correct": [0] * 10})
    with pytest.raises(ValueError, match="not evaluated on the same items"):
        paired.compare(cells, plan.single_run(cells), lambda d, m: frames[m], lambda c: accuracy[c["model"]], BOOT)
