"""Adapter: the transfer pool without its gold answers, for the stages that work on it."""

from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.pools import questions_only
from alice_w2s.runner import run_stage


def main(smk):
    questions = questions_only(read_parquet(smk.input.transfer))
    write_parquet(questions, smk.output[0])
    return {"questions": len(questions), "columns": list(questions.columns)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
