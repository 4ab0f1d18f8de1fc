"""Adapter: greedy evaluation of one model on one dataset's eval split."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_json, write_parquet
from alice_w2s.runner import generation_stats, open_stage_generator, prompts_from, run_stage, sampling_from
from alice_w2s.stages.evaluate import evaluate, summarize


def main(smk):
    spec = get_spec(smk.params.kind)
    rows = read_parquet(smk.input.eval_rows)
    generator = open_stage_generator(smk.params)
    items, result = evaluate(rows, spec, generator, sampling_from(smk.params.settings, smk.params.seed), prompts_from(smk.params))
    generator.close()
    summary = {"dataset": smk.wildcards.dataset, "model": smk.wildcards.key, **summarize(items), **generation_stats(result)}
    write_parquet(items, smk.output.per_item)
    write_json(summary, smk.output.summary)
    return summary


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
