"""Adapter: gold labels of the transfer half (the Weak and Strong baselines)."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.runner import run_stage
from alice_w2s.stages.labels import gold_set


def main(smk):
    gold = gold_set(read_parquet(smk.input.transfer), get_spec(smk.params.kind))
    write_parquet(gold, smk.output.gold)
    return {"gold_labels": len(gold)}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
