"""Adapter: K responses per pool question from the fine-tuned teacher."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generation_stats, open_stage_generator, sampling_from
from alice_w2s.stages.sample import sample_responses


def main(smk):
    spec = get_spec(smk.params.kind)
    questions = read_pool(smk.input.transfer, smk.wildcards.pool)
    settings = smk.params.settings
    generator = open_stage_generator(smk.params, smk.output[0])
    samples, result = sample_responses(
        questions, spec, generator, sampling_from(settings, smk.params.seed, n=settings["k"]), prompts_from(smk.params)
    )
    generator.close()
    write_parquet(samples, smk.output[0])
    generator.discard()
    return {
        "questions": len(questions),
        "samples": len(samples),
        "unparsed_rate": float(samples["extracted"].isna().mean()) if len(samples) else 0.0,
        **generation_stats(result),
        **generator.stats(),
    }


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
