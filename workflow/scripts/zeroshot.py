"""Adapter: the untrained student answers every pool question."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generate_then_write, generation_stats, sampling_from
from alice_w2s.stages.student import zero_shot


def main(smk):
    spec = get_spec(smk.params.kind)
    questions = read_pool(smk.input.transfer, smk.wildcards.pool)
    sampling = sampling_from(smk.params.settings, smk.params.seed)
    (answers, result), shards = generate_then_write(
        smk.params, smk.output[0],
        lambda generator: zero_shot(questions, spec.answer_type, generator, sampling, prompts_from(smk.params)),
        lambda produced: write_parquet(produced[0], smk.output[0]),
    )
    return {"questions": len(answers), **generation_stats(result), **shards}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
