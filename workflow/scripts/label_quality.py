"""Adapter: score one trained model's training set against the gold answers of
the rows it labels (label accuracy, unparsed share, labels by source)."""

import pandas as pd

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_json
from alice_w2s.runner import run_stage
from alice_w2s.stages.label_quality import label_quality


def main(smk):
    gold = pd.concat([read_parquet(smk.input.teacher), read_parquet(smk.input.transfer)], ignore_index=True)
    quality = label_quality(read_parquet(smk.input.labels), gold, get_spec(smk.params.kind))
    write_json({"dataset": smk.wildcards.dataset, "model": smk.wildcards.key, **quality}, smk.output[0])
    return quality


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
