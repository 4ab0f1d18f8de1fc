"""Adapter: the teacher's CoT data (human solutions, or rejection sampling)."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.runner import generation_stats, open_stage_generator, prompts_from, run_stage, sampling_from
from alice_w2s.stages import cot


def main(smk):
    spec = get_spec(smk.params.kind)
    teacher_half = read_parquet(smk.input.teacher_half)
    result = None
    if spec.has_human_cot:
        rows = cot.human_cot(teacher_half, spec)
    else:
        settings = smk.params.settings
        generator = open_stage_generator(smk.params)
        sampling = sampling_from(settings, smk.params.seed, n=settings["tries"])
        rows, result = cot.rejection_sample(teacher_half, spec, generator, sampling, prompts_from(smk.params))
        generator.close()
    write_parquet(rows, smk.output[0])
    kept = int(rows["correct"].sum())
    return {"questions": len(rows), "kept": kept, "yield": kept / max(len(rows), 1), **generation_stats(result)}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
