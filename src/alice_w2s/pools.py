"""Pools of transfer questions: the whole transfer half (``all``) or one of the
consecutive slices a cascade cuts it into (``s{k}of{n}``, see plan.py). Every
stage that works on a pool selects its rows here, so a change to how datasets
are prepared does not touch the code those stages run."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from alice_w2s.io import read_parquet


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


# What a pool row may carry where the stages read it: no gold (answer, aliases, solution).
QUESTION_COLUMNS = ["id", "question", "answer_type"]


def questions_only(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows without their gold answers (rule transfer_questions)."""
    missing = [c for c in QUESTION_COLUMNS if c not in rows]
    if missing:
        raise ValueError(f"the transfer rows have no column(s) {', '.join(missing)}")
    return rows[QUESTION_COLUMNS].reset_index(drop=True)


def read_pool(transfer_path: str | Path, pool: str) -> pd.DataFrame:
    """The transfer questions of one pool (``all`` or slice ``s{k}of{n}``)."""
    transfer = read_parquet(transfer_path)
    return transfer.iloc[select_pool(len(transfer), pool)]
