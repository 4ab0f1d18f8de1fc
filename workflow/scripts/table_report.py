"""Adapter: per-stage statistics and every artifact's settings behind one table,
as HTML pages for `snakemake --report`, from the manifests below its cells, and
the training curves of its fine-tuned models as a plot."""

from pathlib import Path

import pandas as pd

from alice_w2s.io import atomic_path
from alice_w2s.plan import ceilings_text
from alice_w2s.provenance import lineage
from alice_w2s.report import settings_frame, stage_frames, time_per_stage, to_html
from alice_w2s.runner import run_stage
from alice_w2s.training_curves import plot_curves, read_curves


def main(smk):
    table_rows = pd.read_csv(smk.input.table)
    sources = list(table_rows["source"].dropna())  # a mean row over seeds has none
    ceilings = ceilings_text(table_rows["strong"].dropna())
    manifests = lineage(*sources)
    results = smk.params.results
    stages = stage_frames(manifests, results)
    table = Path(smk.input.table).stem
    with atomic_path(smk.output.stages, ".html") as tmp:
        intro = (f"What each job counted, per stage, for every artifact behind {table}, and the time "
                 "its jobs took (wall-clock hours from the manifests; `python -m alice_w2s.cost` gives the "
                 "GPU-hours requested). PGR's ceiling (Strong): "
                 + (ceilings or "none in this table") + ".")
        tmp.write_text(to_html(f"Run statistics: {table}", intro, {"Time per stage": time_per_stage(stages), **stages}))
    settings = settings_frame(manifests, results)
    by_stage = {stage: group.drop(columns="stage") for stage, group in settings.groupby("stage", sort=False)}
    with atomic_path(smk.output.settings, ".html") as tmp:
        intro = f"The settings each artifact behind {table} was made with (from its manifest)."
        tmp.write_text(to_html(f"Settings: {table}", intro, by_stage))
    models = [a for a in manifests if Path(a).relative_to(results).parts[0] == "models"]
    curves, untrained = read_curves(models)
    with atomic_path(smk.output.curves, ".png") as tmp:
        plot_curves(curves, untrained, tmp, f"Training curves: {table}")
    return {"artifacts": len(manifests), "stages": len(stages), "curves": len(curves), "untrained_models": len(untrained)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
