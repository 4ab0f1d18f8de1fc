"""Adapter: one results table (Markdown, CSV, PNG) and its paired comparisons
(CSV, and a section of the Markdown) from the evaluation results."""

import functools

import pandas as pd

from alice_w2s import paired
from alice_w2s.io import atomic_path
from alice_w2s.plan import parse_key
from alice_w2s.runner import plain, run_stage
from alice_w2s.tables import collect, plot, shown, to_markdown


def main(smk):
    cells = plain(smk.params.cells)
    runs = plain(smk.params.runs)
    bootstrap = plain(smk.params.bootstrap)
    # The rule lists summaries and per-item files in the order of params.evaluations,
    # and label quality in that order for the fine-tuned models among them.
    evaluations = [tuple(e) for e in plain(smk.params.evaluations)]
    summaries = dict(zip(evaluations, smk.input.summaries, strict=True))
    per_item = dict(zip(evaluations, smk.input.per_item, strict=True))
    trained = [(d, k) for d, k in evaluations if not parse_key(k).is_base]
    quality = dict(zip(trained, smk.input.label_quality, strict=True))
    frame = collect(
        cells, runs, lambda d, m: summaries[(d, m)], lambda d, m: per_item[(d, m)], bootstrap,
        lambda d, m: quality.get((d, m)),
    )
    correct_of = functools.cache(lambda d, m: pd.read_parquet(per_item[(d, m)], columns=["id", "correct"]))
    accuracy = {(row.dataset, row.model): row.accuracy for row in shown(frame).itertuples()}
    comparisons = paired.compare(cells, runs, correct_of, lambda c: accuracy[(c["dataset"], c["model"])], bootstrap)
    with atomic_path(smk.output.csv, ".csv") as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(smk.output.comparisons, ".csv") as tmp:
        comparisons.to_csv(tmp, index=False)
    markdown = to_markdown(frame, smk.params.title, set(smk.params.text_datasets), bootstrap["confidence"])
    markdown += "\n" + "\n".join(paired.to_markdown(comparisons, bootstrap["confidence"]))
    with atomic_path(smk.output.markdown, ".md") as tmp:
        tmp.write_text(markdown)
    with atomic_path(smk.output.plot, ".png") as tmp:
        plot(frame, tmp, smk.params.title)
    return {"cells": len(shown(frame)), "seeds": len(runs), "pgr_cells": int(shown(frame)["pgr"].notna().sum()),
            "comparisons": len(comparisons)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
