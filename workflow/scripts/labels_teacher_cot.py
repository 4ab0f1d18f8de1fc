"""Adapter: the Q-CoT-A training set of a teacher (its CoT that reached gold)."""

from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.runner import run_stage
from alice_w2s.stages.labels import teacher_cot_set


def main(smk):
    cot = read_parquet(smk.input[0], required=("id", "question", "response", "correct", "source"))
    labels = teacher_cot_set(cot)
    write_parquet(labels, smk.output[0])
    return {"questions": len(cot), "labels": len(labels)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
