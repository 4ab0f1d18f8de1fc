"""Adapter: the summarizer writes the teacher's uncertainty per question."""

from alice_w2s.datasets.prepare import read_pool
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.runner import generation_stats, open_stage_generator, prompts_from, run_stage, sampling_from
from alice_w2s.stages.summarize import summarize_uncertainty


def main(smk):
    questions = read_pool(smk.input.transfer, smk.wildcards.pool)
    clusters = read_parquet(smk.input.clusters, required=("id", "cluster_idx", "representative", "is_final"))
    needs_summary = (clusters.groupby("id").size() > 1).any() if len(clusters) else False
    # Open the (large) summarizer only when some question has several clusters.
    generator = open_stage_generator(smk.params) if needs_summary else None
    uncertainty, result = summarize_uncertainty(
        questions, clusters, generator, sampling_from(smk.params.settings, smk.params.seed), prompts_from(smk.params)
    )
    if generator is not None:
        generator.close()
    write_parquet(uncertainty, smk.output[0])
    return {
        "questions": len(uncertainty),
        "summarized": int(uncertainty["uncertainty"].notna().sum()),
        "single_cluster": int((uncertainty["n_clusters"] == 1).sum()),
        "no_teacher_answer": int((uncertainty["n_clusters"] == 0).sum()),
        **generation_stats(result),
    }


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
