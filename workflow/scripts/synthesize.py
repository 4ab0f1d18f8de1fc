"""Adapter: the student synthesizes its own training labels (Alice), from one or
more teachers' answers, with their uncertainty or (ablation) without it."""

from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import read_parquet, write_parquet
from alice_w2s.pools import read_pool
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.stage_generation import generate_then_write, generation_stats, sampling_from
from alice_w2s.stages.student import synthesize
from alice_w2s.stages.summarize import teacher_table

CLUSTER_COLUMNS = ("id", "cluster_idx", "representative", "is_final")
UNCERTAINTY_COLUMNS = ("id", "teacher_answer", "n_clusters", "uncertainty")


def main(smk):
    spec = get_spec(smk.params.kind)
    questions = read_pool(smk.input.transfer, smk.params.pool)
    own = read_parquet(smk.input.zeroshot, required=("id", "response"))
    use_uncertainty = smk.params.use_uncertainty  # the model key decides (plan.METHODS)
    if use_uncertainty:
        teachers = [read_parquet(path, required=UNCERTAINTY_COLUMNS) for path in smk.input.uncertainty]
    else:
        teachers = [teacher_table(questions, read_parquet(path, required=CLUSTER_COLUMNS)) for path in smk.input.clusters]
    sampling = sampling_from(smk.params.settings, smk.params.seed)
    (labels, result, counts), shards = generate_then_write(
        smk.params, smk.output[0],
        lambda generator: synthesize(
            questions, spec.answer_type, own, teachers, generator, sampling, prompts_from(smk.params),
            use_uncertainty=use_uncertainty, keep_unparsable=smk.params.settings["keep_unparsable"],
        ),
        lambda produced: write_parquet(produced[0], smk.output[0]),
    )
    return {
        "questions": len(questions),
        "teachers": len(teachers),
        "labels": len(labels),
        **counts,
        **generation_stats(result),
        **shards,
    }


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
