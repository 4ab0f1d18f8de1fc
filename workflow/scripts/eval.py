"""Adapter: greedy evaluation of one model on one dataset's eval split."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_json, write_parquet
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generation_stats, open_stage_generator, sampling_from
from alice_w2s.stages.evaluate import evaluate, summarize


def main(smk):
    spec = get_spec(smk.params.kind)
    rows = read_parquet(smk.input.eval_rows)
    generator = open_stage_generator(smk.params, smk.output.per_item)
    items, result = evaluate(rows, spec, generator, sampling_from(smk.params.settings, smk.params.seed), prompts_from(smk.params))
    generator.close()
    summary = {"dataset": smk.wildcards.dataset, "model": smk.wildcards.key, **summarize(items), **generation_stats(result)}
    write_parquet(items, smk.output.per_item)
    write_json(summary, smk.output.summary)
    generator.discard()
    # Shard counts go to the manifests only: the summary is the same however the job ran.
    return {**summary, **generator.stats()}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
