"""Adapter: the teacher's CoT data (human solutions, or rejection sampling)."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generate_then_write, generation_stats, sampling_from
from alice_w2s.stages import cot


def main(smk):
    spec = get_spec(smk.params.kind)
    teacher_half = read_parquet(smk.input.teacher_half)
    result, shards = None, {}
    if spec.has_human_cot:
        rows = cot.human_cot(teacher_half, spec)
        write_parquet(rows, smk.output[0])
    else:
        settings = smk.params.settings
        sampling = sampling_from(settings, smk.params.seed, n=settings["tries"])
        (rows, result), shards = generate_then_write(
            smk.params, smk.output[0],
            lambda generator: cot.rejection_sample(teacher_half, spec, generator, sampling, prompts_from(smk.params)),
            lambda produced: write_parquet(produced[0], smk.output[0]),
        )
    kept = int(rows["correct"].sum())
    return {"questions": len(rows), "kept": kept, "yield": kept / max(len(rows), 1), **generation_stats(result), **shards}


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
