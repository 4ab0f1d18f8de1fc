"""Results tables from evaluation summaries: Markdown for reading, CSV for code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

# `source` is the cell's evaluation summary: `python -m alice_w2s.provenance <source>`
# lists every artifact and setting behind the number.
CSV_COLUMNS = ["block", "row", "dataset", "model", "n", "accuracy", "accuracy_stderr", "unparsed_rate", "exact_match", "f1", "source"]


def collect(cells: list[dict], summary_path: Callable[[str, str], str]) -> pd.DataFrame:
    """One CSV row per table cell, read from the cell's evaluation summary JSON."""
    records = []
    for cell in cells:
        path = Path(summary_path(cell["dataset"], cell["model"]))
        summary = json.loads(path.read_text())
        records.append({**cell, **{k: summary[k] for k in CSV_COLUMNS if k in summary}, "source": str(path)})
    return pd.DataFrame(records, columns=CSV_COLUMNS)


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def to_markdown(frame: pd.DataFrame, title: str, text_datasets: set[str]) -> str:
    """Per block: rows x datasets, each cell ``accuracy ±stderr (unparsed %)``."""
    lines = [f"# {title}", ""]
    lines.append("Accuracy % ± standard error; in brackets the share of responses with no parsable final answer (counted as wrong).")
    lines.append("")
    datasets = list(dict.fromkeys(frame["dataset"]))
    for block, group in frame.groupby("block", sort=False):
        lines += [f"## {block}", "", "| | " + " | ".join(datasets) + " |", "|---" * (len(datasets) + 1) + "|"]
        for row, cells in group.groupby("row", sort=False):
            by_dataset = cells.set_index("dataset")
            rendered = [
                f"{_percent(c.accuracy)} ±{_percent(c.accuracy_stderr)} ({_percent(c.unparsed_rate)}% unparsed)"
                for c in (by_dataset.loc[d] for d in datasets)
            ]
            lines.append(f"| {row} | " + " | ".join(rendered) + " |")
        qa = [d for d in datasets if d in text_datasets]
        if qa:
            lines += ["", "Normalised exact match / token F1 (%) of the short answer:", ""]
            lines += ["| | " + " | ".join(qa) + " |", "|---" * (len(qa) + 1) + "|"]
            for row, cells in group.groupby("row", sort=False):
                by_dataset = cells.set_index("dataset")
                rendered = [f"{_percent(by_dataset.loc[d].exact_match)} / {_percent(by_dataset.loc[d].f1)}" for d in qa]
                lines.append(f"| {row} | " + " | ".join(rendered) + " |")
        lines.append("")
    return "\n".join(lines)
