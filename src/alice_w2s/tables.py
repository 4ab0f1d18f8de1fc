"""Results tables from evaluation results: Markdown for reading, CSV for code, a
PNG of grouped bars. Each cell carries its standard error; rows measured against
Weak and Strong baselines carry PGR with a paired-bootstrap interval."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from alice_w2s import pgr, plan

# `source` is the cell's evaluation summary: `python -m alice_w2s.provenance <source>`
# lists every artifact and setting behind the number. `seed`: the run's seed, or
# "mean" for a cell's mean over several seeds (its `model` the key without a seed,
# its accuracy_stderr the standard error across seeds, its `source` empty).
CSV_COLUMNS = [
    "block", "row", "setting", "dataset", "model", "seed", "n", "accuracy", "accuracy_stderr", "unparsed_rate",
    "strict_accuracy", "lenient_accuracy", "exact_match", "f1", "weak", "strong", "pgr", "pgr_low", "pgr_high",
    "gap", "gap_low", "gap_high", "pgr_note", "train_labels", "label_accuracy", "label_unparsed_rate",
    "label_sources", "synthesis_fixed", "synthesis_broke", "synthesis_both_right", "synthesis_both_wrong", "source",
]
MEAN = "mean"
# label_quality's 2x2 of an Alice student's synthesized labels (stages/label_quality.py)
SYNTHESIS_KEYS = ["synthesis_fixed", "synthesis_broke", "synthesis_both_right", "synthesis_both_wrong"]
# strict_accuracy (number/choice) and lenient_accuracy (text) sit beside the paper's
# accuracy; summaries written before they existed leave them empty.
SUMMARY_KEYS = [
    "n", "accuracy", "accuracy_stderr", "unparsed_rate", "strict_accuracy", "lenient_accuracy", "exact_match", "f1",
]
# A mean row's value of these is the mean of its seeds' values.
_AVERAGED = [k for k in SUMMARY_KEYS if k not in ("n", "accuracy_stderr")] + [
    "train_labels", "label_accuracy", "label_unparsed_rate", *SYNTHESIS_KEYS,
]


def collect(
    cells: list[dict],
    runs: list[dict],
    summary_path: Callable[[str, str], str],
    items_path: Callable[[str, str], str],
    bootstrap: dict,
    quality_path: Callable[[str, str], str | None] = lambda dataset, model: None,
) -> pd.DataFrame:
    """CSV rows of a table: per seed (``runs``: its seed and each cell key's key in
    its runs) one row per cell with the evaluation summary, for rows with baselines
    the PGR from a paired bootstrap (settings: iterations, confidence, seed), and
    for fine-tuned models what they learned from (``quality_path``: the
    label_quality file, None for an untrained model); with several seeds, first a
    mean row per cell (``mean_record``)."""

    @functools.cache  # a baseline serves every row of its block
    def items(dataset: str, model: str) -> pd.DataFrame:
        return pd.read_parquet(items_path(dataset, model), columns=["id", "correct"])

    @functools.cache  # a seed's alignment serves its PGR and the mean row's
    def aligned(dataset: str, model: str, weak: str, strong: str) -> np.ndarray:
        return pgr.align(*(items(dataset, k) for k in (model, weak, strong)))

    def correct(cell: dict) -> np.ndarray:
        return aligned(cell["dataset"], cell["model"], cell["weak"], cell["strong"])

    per_seed = []
    for run in runs:
        for cell in cells:
            cell = plan.cell_in_seed(cell, run)
            path = Path(summary_path(cell["dataset"], cell["model"]))
            summary = json.loads(path.read_text())
            record = {**cell, "seed": run["seed"], **{k: summary[k] for k in SUMMARY_KEYS if k in summary},
                      "source": str(path)}
            quality_file = quality_path(cell["dataset"], cell["model"])
            if quality_file is not None:
                quality = json.loads(Path(quality_file).read_text())
                record.update(
                    train_labels=quality["labels"],
                    label_accuracy=quality["label_accuracy"],
                    label_unparsed_rate=quality["unparsed_rate"],
                    label_sources=json.dumps(quality["sources"], sort_keys=True),
                    **{k: quality[k] for k in SYNTHESIS_KEYS if k in quality},
                )
            if cell["weak"] is not None:
                record.update(pgr.paired_bootstrap(
                    correct(cell), bootstrap["bootstrap_iterations"], bootstrap["confidence"], bootstrap["seed"]
                ))
            per_seed.append(record)
    if len(runs) == 1:
        return pd.DataFrame(per_seed, columns=CSV_COLUMNS)
    means = []
    for i, cell in enumerate(cells):
        records = per_seed[i :: len(cells)]
        stack = np.stack([correct(plan.cell_in_seed(cell, run)) for run in runs]) if cell["weak"] is not None else None
        means.append(mean_record(cell, records, stack, bootstrap))
    return pd.DataFrame(means + per_seed, columns=CSV_COLUMNS)


def mean_record(cell: dict, records: list[dict], correct: np.ndarray | None, bootstrap: dict) -> dict:
    """A cell's row over its seeds' ``records``: means, the standard error of the
    accuracy across seeds, label counts per source averaged, and for rows with
    baselines PGR from the seeds-then-items bootstrap of ``correct`` (seeds, 3, items)."""
    frame = pd.DataFrame(records)
    record = {**cell, "seed": MEAN, "n": records[0].get("n"), "source": ""}
    for key in _AVERAGED:
        if key in frame and frame[key].notna().all():
            record[key] = float(frame[key].mean())
    record["accuracy_stderr"] = float(frame["accuracy"].std(ddof=1) / math.sqrt(len(frame)))
    if "label_sources" in frame and frame["label_sources"].notna().all():
        sources = [json.loads(text) for text in frame["label_sources"]]
        names = sorted({name for counts in sources for name in counts})
        record["label_sources"] = json.dumps({n: sum(c.get(n, 0) for c in sources) / len(sources) for n in names})
    if correct is not None:
        record.update(pgr.seeds_bootstrap(
            correct, bootstrap["bootstrap_iterations"], bootstrap["confidence"], bootstrap["seed"]
        ))
    return record


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the Markdown and the plot show: the means where there are several
    seeds, else the one seed's rows."""
    means = frame[frame["seed"].astype(str) == MEAN]
    return means if len(means) else frame


def seeds_of(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(str(s) for s in frame["seed"] if str(s) != MEAN))


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pgr_text(cell: pd.Series) -> str:
    if _missing(cell.weak):
        return "—"
    if _missing(cell.pgr):
        return f"n/a ({cell.pgr_note})"
    text = f"{cell.pgr:.2f} [{cell.pgr_low:.2f}, {cell.pgr_high:.2f}]"
    if not _missing(cell.train_labels) and float(cell.train_labels) == 0:
        return f"{text} (trained on 0 labels: the untrained base model)"
    return text


def _labels_text(cell: pd.Series) -> str:
    if _missing(cell.train_labels):
        return "— (not fine-tuned)"
    if float(cell.train_labels) == 0:
        return "0 labels (the base model, untrained)"
    sources = json.loads(cell.label_sources)
    where = ", ".join(f"{_count(n)} {s}" for s, n in sources.items()) if len(sources) > 1 else ""
    text = (f"{_count(cell.train_labels)} labels, {_percent(cell.label_accuracy)}% right "
            f"({_percent(cell.label_unparsed_rate)}% unparsed)")
    text = f"{text}; {where}" if where else text
    if not _missing(cell.get("synthesis_fixed")):
        synthesized = _count(sum(float(cell[k]) for k in SYNTHESIS_KEYS))
        text += (f"; of {synthesized} synthesized against the teacher's answer: {_count(cell.synthesis_fixed)} fixed a "
                 f"wrong one, {_count(cell.synthesis_broke)} broke a right one, {_count(cell.synthesis_both_right)} "
                 f"both right, {_count(cell.synthesis_both_wrong)} both wrong")
    if str(cell.seed) == MEAN:
        text += " (means over the seeds)"
    return text


def _count(value: float) -> str:
    """A label count: whole for one seed, to one decimal for a mean over seeds."""
    value = float(value)
    return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"


def _grid(
    group: pd.DataFrame, datasets: list[str], render: Callable[[pd.Series], str], second: str = "Setting"
) -> list[str]:
    lines = [f"| Method | {second} | " + " | ".join(datasets) + " |", "|---|---" + "|---" * len(datasets) + "|"]
    for (row, setting), cells in group.groupby(["row", "setting"], sort=False):
        by_dataset = cells.set_index("dataset")
        lines.append(f"| {row} | {setting} | " + " | ".join(render(by_dataset.loc[d]) for d in datasets) + " |")
    return lines


def to_markdown(frame: pd.DataFrame, title: str, text_datasets: set[str], confidence: float) -> str:
    """Per block: rows x datasets of accuracy, PGR and (QA sets) exact match / F1."""
    level = f"{round(100 * confidence)}%"
    seeds = seeds_of(frame)
    frame = shown(frame)
    lines = [f"# {title}", ""]
    if len(seeds) > 1:
        lines.append(
            f"Mean over {len(seeds)} seeds ({', '.join(seeds)}; every stochastic stage run once per seed) "
            "of accuracy % ± standard error across the seeds; in brackets the share of responses with no "
            "parsable final answer (counted as wrong). Each seed's numbers are the CSV's rows of that seed."
        )
        lines.append(
            f"PGR = (model - Weak) / (Strong - Weak) of the accuracies averaged over seeds, with a {level} "
            "bootstrap interval that resamples the seeds, then each drawn seed's eval items (Weak and Strong of "
            "the same seed, paired); not reported where the Strong - Weak gap's own interval holds 0 "
            "(gap within noise) or lies below 0."
        )
    else:
        lines.append(
            "Accuracy % ± standard error over eval items; in brackets the share of responses with no "
            "parsable final answer (counted as wrong)."
        )
        lines.append(
            f"PGR = (model - Weak) / (Strong - Weak) with a {level} paired-bootstrap interval over eval items; "
            "not reported where the Strong - Weak gap's own interval holds 0 (gap within noise) or lies below 0."
        )
    lines.append("")
    datasets = list(dict.fromkeys(frame["dataset"]))
    for block, group in frame.groupby("block", sort=False):
        lines += [f"## {block}", ""]
        lines += _grid(
            group,
            datasets,
            lambda c: f"{_percent(c.accuracy)} ±{_percent(c.accuracy_stderr)} ({_percent(c.unparsed_rate)}% unparsed)",
        )
        if group["weak"].notna().any():
            lines += ["", f"PGR [{level} interval] against Weak / Strong:", ""]
            with_baselines = group.assign(
                setting=[f"{w} / {s}" if isinstance(w, str) else "—" for w, s in zip(group["weak"], group["strong"], strict=True)]
            )
            lines += _grid(with_baselines, datasets, _pgr_text, second="Weak / Strong")
            lines += ["", f"PGR's ceiling (Strong): {plan.ceilings_text(group['strong'].dropna())}."]
        qa = [d for d in datasets if d in text_datasets]
        formatted = [d for d in datasets if d not in text_datasets]
        if formatted and group["strict_accuracy"].notna().all():
            lines += ["", "Strict-match accuracy (%): only the exact closing line the prompt asks for counts:", ""]
            lines += _grid(group, formatted, lambda c: _percent(c.strict_accuracy))
        if qa and group["lenient_accuracy"].notna().all():
            lines += ["", "Lenient contain-match accuracy (%): the value and raw aliases count too:", ""]
            lines += _grid(group, qa, lambda c: _percent(c.lenient_accuracy))
        if qa:
            lines += ["", "Normalised exact match / token F1 (%) of the short answer:", ""]
            lines += _grid(group, qa, lambda c: f"{_percent(c.exact_match)} / {_percent(c.f1)}")
        if group["train_labels"].notna().any():
            lines += [
                "",
                "What each model was fine-tuned on: labels trained on, and the share of them that match the gold "
                "answer of their question (scored like eval responses; unparsable in brackets; no student is trained on these golds); "
                "for Alice, how the labels the student synthesized compare with its teacher's final answer:",
                "",
            ]
            lines += _grid(group, datasets, _labels_text)
        lines.append("")
    return "\n".join(lines)


def plot(frame: pd.DataFrame, path: str | Path, title: str) -> None:
    """Grouped bars (one group per dataset, one bar per row) with 95% normal error
    bars, one panel per block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = shown(frame)
    blocks = list(dict.fromkeys(frame["block"]))
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig, axes = plt.subplots(len(blocks), 1, figsize=(max(6, 2.2 * len(datasets) + 3), 3.6 * len(blocks)), squeeze=False)
    for ax, block in zip(axes[:, 0], blocks, strict=True):
        group = frame[frame["block"] == block]
        rows = list(dict.fromkeys(group["row"]))
        width = 0.8 / len(rows)
        for i, row in enumerate(rows):
            cells = group[group["row"] == row].set_index("dataset").loc[datasets]
            positions = [d + (i - (len(rows) - 1) / 2) * width for d in range(len(datasets))]
            ax.bar(positions, 100 * cells["accuracy"], width, yerr=196 * cells["accuracy_stderr"], capsize=2, label=row)
        top = float((100 * (group["accuracy"] + 1.96 * group["accuracy_stderr"])).max())
        ax.set_ylim(0, max(5.0, 1.15 * top))
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_ylabel("accuracy % (±1.96 SE)")
        ax.set_title(block, fontsize=10)
        ax.legend(fontsize=7, ncols=2)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
