"""Adapter: score one trained model's training set against the gold answers of
the rows it labels (label accuracy, unparsed share, labels by source; for an
Alice student, its synthesized labels against its teachers' final answers)."""

import pandas as pd

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_json
from alice_w2s.runner import run_stage
from alice_w2s.stages.label_quality import final_answers, label_quality


def main(smk):
    gold = pd.concat([read_parquet(smk.input.teacher), read_parquet(smk.input.transfer)], ignore_index=True)
    teacher_finals = None
    if "clusters" in smk.input.keys():  # an Alice student: its teachers' final answers, from their clusters
        teacher_finals = [final_answers(read_parquet(path)) for path in smk.input.clusters]
    quality = label_quality(read_parquet(smk.input.labels), gold, get_spec(smk.params.kind), teacher_finals)
    write_json({"dataset": smk.wildcards.dataset, "model": smk.wildcards.key, **quality}, smk.output[0])
    return quality


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
