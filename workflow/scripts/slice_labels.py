"""Adapter: a cascade's first link takes the rows of its pool slice from the
direct pair's labels (the reference scripts do the same), so the cascade and the
single-turn experiment share one teacher run."""

from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.runner import run_stage


def main(smk):
    questions = read_pool(smk.input.transfer, smk.params.pool)
    labels = read_parquet(smk.input.labels, required=("id", "question", "label"))
    kept = labels[labels["id"].isin(set(questions["id"]))].reset_index(drop=True)
    write_parquet(kept, smk.output[0])
    return {"pool": smk.params.pool, "pool_questions": len(questions), "labels_in": len(labels), "labels": len(kept)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
