"""Adapter: original W2SG labels, the teacher's single answer per pool question."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generation_stats, open_stage_generator, sampling_from
from alice_w2s.stages.labels import w2s_set


def main(smk):
    spec = get_spec(smk.params.kind)
    questions = read_pool(smk.input.transfer, smk.wildcards.pool)
    generator = open_stage_generator(smk.params, smk.output[0])
    labels, result = w2s_set(questions, spec, generator, sampling_from(smk.params.settings, smk.params.seed), prompts_from(smk.params))
    generator.close()
    write_parquet(labels, smk.output[0])
    generator.discard()
    return {"questions": len(labels), **generation_stats(result), **generator.stats()}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
