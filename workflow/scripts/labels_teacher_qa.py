"""Adapter: the Q-A training set of a teacher (question -> gold answer)."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.runner import run_stage
from alice_w2s.stages.labels import qa_set, teacher_qa_rows


def main(smk):
    teacher_half = read_parquet(smk.input.teacher_half)
    cot = read_parquet(smk.input.cot, required=("id", "correct")) if "cot" in smk.input.keys() else None
    rows = teacher_qa_rows(teacher_half, smk.params.questions, cot)
    labels = qa_set(rows, get_spec(smk.params.kind))
    write_parquet(labels, smk.output[0])
    return {"questions": smk.params.questions, "teacher_half_rows": len(teacher_half), "labels": len(labels)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
