"""Adapter: K responses per pool question from the fine-tuned teacher."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generate_then_write, generation_stats, sampling_from
from alice_w2s.stages.sample import sample_responses


def main(smk):
    spec = get_spec(smk.params.kind)
    questions = read_pool(smk.input.transfer, smk.wildcards.pool)
    settings = smk.params.settings
    sampling = sampling_from(settings, smk.params.seed, n=settings["k"])
    (samples, result), shards = generate_then_write(
        smk.params, smk.output[0],
        lambda generator: sample_responses(questions, spec, generator, sampling, prompts_from(smk.params)),
        lambda produced: write_parquet(produced[0], smk.output[0]),
    )
    return {
        "questions": len(questions),
        "samples": len(samples),
        "unparsed_rate": float(samples["extracted"].isna().mean()) if len(samples) else 0.0,
        **generation_stats(result),
        **shards,
    }


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
