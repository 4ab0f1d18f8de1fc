"""Adapter: Q-A labels of the teacher half and gold labels of the transfer half."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.runner import run_stage
from alice_w2s.stages.labels import gold_set, qa_set


def main(smk):
    spec = get_spec(smk.params.kind)
    teacher_qa = qa_set(read_parquet(smk.input.teacher_half), spec)
    gold = gold_set(read_parquet(smk.input.transfer), spec)
    write_parquet(teacher_qa, smk.output.teacher_qa)
    write_parquet(gold, smk.output.gold)
    return {"teacher_qa_labels": len(teacher_qa), "gold_labels": len(gold)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
