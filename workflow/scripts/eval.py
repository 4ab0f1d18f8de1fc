"""Adapter: greedy evaluation of one model on one dataset's eval split."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_json, write_parquet
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generate_then_write, generation_stats, sampling_from
from alice_w2s.stages.evaluate import accuracy_summary, evaluate


def main(smk):
    spec = get_spec(smk.params.kind)
    rows = read_parquet(smk.input.eval_rows)
    sampling = sampling_from(smk.params.settings, smk.params.seed)

    def run(generator):
        items, result = evaluate(rows, spec, generator, sampling, prompts_from(smk.params))
        return items, {"dataset": smk.wildcards.dataset, "model": smk.wildcards.key, **accuracy_summary(items), **generation_stats(result)}

    def write(produced):
        items, summary = produced
        write_parquet(items, smk.output.per_item)
        write_json(summary, smk.output.summary)

    (_, summary), shards = generate_then_write(smk.params, smk.output.per_item, run, write)
    # Shard counts go to the manifests only: the summary is the same however the job ran.
    return {**summary, **shards}

if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
