"""Adapter: the teacher's CoT data (human solutions, or rejection sampling)."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generation_stats, open_stage_generator, sampling_from
from alice_w2s.stages import cot


def main(smk):
    spec = get_spec(smk.params.kind)
    teacher_half = read_parquet(smk.input.teacher_half)
    result, shards = None, {}
    if spec.has_human_cot:
        rows = cot.human_cot(teacher_half, spec)
    else:
        settings = smk.params.settings
        generator = open_stage_generator(smk.params, smk.output[0])
        sampling = sampling_from(settings, smk.params.seed, n=settings["tries"])
        rows, result = cot.rejection_sample(teacher_half, spec, generator, sampling, prompts_from(smk.params))
        generator.close()
        shards = generator.stats()
    write_parquet(rows, smk.output[0])
    if not spec.has_human_cot:
        generator.discard()
    kept = int(rows["correct"].sum())
    return {"questions": len(rows), "kept": kept, "yield": kept / max(len(rows), 1), **generation_stats(result), **shards}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
