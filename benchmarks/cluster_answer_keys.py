"""How the answer key of answer-match clustering (numbers, choices) changes the
clusters of a real sample set: the flexibly extracted answer (``extracted``) against
the reference's raw text after the first closing marker (``marker_text``).

    .venv/bin/python benchmarks/cluster_answer_keys.py results/samples/<dataset>/<teacher>/<pool>.parquet number

Prints, for each key, the questions with one cluster (label taken directly), with
several (summarized, then synthesized), with none (no label), and the clusters'
count and mean size. Not a timing: a count of what each setting does to one file.
"""

from __future__ import annotations

import argparse

from alice_w2s.io import read_parquet
from alice_w2s.stages.cluster import cluster_samples, cluster_stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", help="a sample stage output (id, sample_idx, response, extracted)")
    parser.add_argument("answer_type", choices=["number", "choice"])
    args = parser.parse_args()
    samples = read_parquet(args.samples, required=("id", "sample_idx", "response", "extracted"))
    questions = samples[["id"]].drop_duplicates().reset_index(drop=True)
    k = samples.groupby("id").size().max()
    print(f"{args.samples}: {len(questions)} questions, K={k}")
    print(f"{'answer_key':<12} {'1 cluster':>9} {'several':>8} {'none':>5} {'clusters':>8} {'mean size':>9}")
    for key in ("extracted", "marker_text"):
        stats = cluster_stats(cluster_samples(samples, questions, args.answer_type, answer_key=key), len(questions))
        several = stats["questions_with_clusters"] - stats["single_cluster_questions"]
        print(
            f"{key:<12} {stats['single_cluster_questions']:>9} {several:>8} {stats['questions_without_clusters']:>5}"
            f" {stats['clusters']:>8} {stats['mean_cluster_size']:>9.2f}"
        )


if __name__ == "__main__":
    main()
