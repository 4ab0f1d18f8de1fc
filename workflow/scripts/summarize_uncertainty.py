"""Adapter: the summarizer writes the teacher's uncertainty per question."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generate_then_write, generation_stats, sampling_from
from alice_w2s.stages.summarize import summarize_uncertainty


def main(smk):
    questions = read_pool(smk.input.transfer, smk.wildcards.pool)
    clusters = read_parquet(smk.input.clusters, required=("id", "cluster_idx", "representative", "representative_idx", "is_final"))
    # The (large) summarizer is loaded only if some question has several clusters
    # and a shard of them is not done yet.
    settings = smk.params.settings
    sampling = sampling_from(settings, smk.params.seed)
    (uncertainty, result, cut), shards = generate_then_write(
        smk.params, smk.output[0],
        lambda generator: summarize_uncertainty(
            questions, get_spec(smk.params.kind).answer_type, clusters, generator, sampling, prompts_from(smk.params),
            settings["max_representatives"], settings["max_representative_chars"],
        ),
        lambda produced: write_parquet(produced[0], smk.output[0]),
    )
    return {
        "questions": len(uncertainty),
        "summarized": int(uncertainty["uncertainty"].notna().sum()),
        "single_cluster": int((uncertainty["n_clusters"] == 1).sum()),
        "no_teacher_answer": int((uncertainty["n_clusters"] == 0).sum()),
        **cut,
        **generation_stats(result),
        **shards,
    }


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
