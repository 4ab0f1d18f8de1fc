"""Adapter: fine-tune a base model on a training set (question -> label)."""

from alice_w2s.backends.sft_launch import fine_tune
from alice_w2s.io import read_parquet
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import plain, run_stage


def main(smk):
    prompts = prompts_from(smk.params)
    labels = read_parquet(smk.input.labels, required=("id", "question", "label"))
    pairs = [(prompts.question(smk.params.answer_type, q), label) for q, label in zip(labels["question"], labels["label"], strict=True)]
    # Several GPUs: one process each, through accelerate launch (fine_tune says
    # when nothing is trained and how the effective batch is kept).
    return fine_tune(
        pairs, smk.params.base["path"], smk.output[0], plain(smk.params.recipe), smk.params.seed,
        processes=int(smk.resources.gpu), source=str(smk.input.labels),
    )


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
