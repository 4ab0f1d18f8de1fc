"""Adapter: cluster each question's sampled responses."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.runner import run_stage
from alice_w2s.stages.cluster import cluster_samples, cluster_stats


def main(smk):
    spec = get_spec(smk.params.kind)
    settings = smk.params.settings  # answer-match clustering (numbers, choices): only answer_key
    questions = read_pool(smk.input.transfer, smk.wildcards.pool)
    samples = read_parquet(smk.input.samples, required=("id", "sample_idx", "response", "extracted"))
    if spec.answer.clusters_by_embedding:
        from alice_w2s.backends.embedding import Embedder

        clusters = cluster_samples(
            samples,
            questions,
            spec.answer_type,
            threshold=settings["threshold"],
            embedder=Embedder(settings["embedder"], pool_instruction=settings["pool_instruction"]),
            instruction=settings["instruction"],
        )
    else:
        clusters = cluster_samples(samples, questions, spec.answer_type, answer_key=settings["answer_key"])
    write_parquet(clusters, smk.output[0])
    return cluster_stats(clusters, len(questions))


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
