"""Adapter: Table 1 (Markdown and CSV) from the evaluation summaries."""

from alice_w2s.io import atomic_path
from alice_w2s.runner import plain, run_stage
from alice_w2s.tables import collect, to_markdown


def main(smk):
    cells = plain(smk.params.cells)
    # The rule lists one summary per cell, in the cells' order.
    summaries = dict(zip([(c["dataset"], c["model"]) for c in cells], smk.input, strict=True))
    frame = collect(cells, lambda dataset, model: summaries[(dataset, model)])
    with atomic_path(smk.output.csv, ".csv") as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(smk.output.markdown, ".md") as tmp:
        tmp.write_text(to_markdown(frame, "Table 1: direct setting", set(smk.params.text_datasets)))
    return {"cells": len(frame)}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
