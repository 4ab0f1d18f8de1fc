"""Adapter: per-stage statistics and every artifact's settings behind one table,
as HTML pages for `snakemake --report`, from the manifests below its cells."""

from pathlib import Path

import pandas as pd

from alice_w2s.io import atomic_path
from alice_w2s.provenance import lineage
from alice_w2s.report import settings_frame, stage_frames, to_html
from alice_w2s.runner import run_stage


def main(smk):
    sources = list(pd.read_csv(smk.input.table)["source"])
    manifests = lineage(*sources)
    results = smk.params.results
    stages = stage_frames(manifests, results)
    table = Path(smk.input.table).stem
    with atomic_path(smk.output.stages, ".html") as tmp:
        intro = f"What each job counted, per stage, for every artifact behind {table}."
        tmp.write_text(to_html(f"Run statistics: {table}", intro, stages))
    settings = settings_frame(manifests, results)
    by_stage = {stage: group.drop(columns="stage") for stage, group in settings.groupby("stage", sort=False)}
    with atomic_path(smk.output.settings, ".html") as tmp:
        intro = f"The settings each artifact behind {table} was made with (from its manifest)."
        tmp.write_text(to_html(f"Settings: {table}", intro, by_stage))
    return {"artifacts": len(manifests), "stages": len(stages)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
