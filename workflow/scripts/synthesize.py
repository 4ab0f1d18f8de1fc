"""Adapter: the student synthesizes its own training labels (Alice)."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.datasets.prepare import read_pool
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.runner import generation_stats, open_stage_generator, prompts_from, run_stage, sampling_from
from alice_w2s.stages.student import synthesize


def main(smk):
    spec = get_spec(smk.params.kind)
    settings = smk.params.settings
    questions = read_pool(smk.input.transfer, smk.params.pool)
    own = read_parquet(smk.input.zeroshot, required=("id", "response"))
    teacher = read_parquet(smk.input.uncertainty, required=("id", "teacher_answer", "n_clusters", "uncertainty"))
    generator = open_stage_generator(smk.params)
    labels, result, counts = synthesize(
        questions,
        spec.answer_type,
        own,
        [teacher],
        generator,
        sampling_from(settings, smk.params.seed),
        prompts_from(smk.params),
        use_uncertainty=settings["use_uncertainty"],
    )
    generator.close()
    write_parquet(labels, smk.output[0])
    return {"questions": len(questions), "labels": len(labels), **counts, **generation_stats(result)}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
