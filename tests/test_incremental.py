"""Change one thing at a time on a finished run of the embedded default and
check the exact set of jobs Snakemake then plans: the stage that uses the
changed thing and what depends on it; nothing upstream, nothing beside."""

from pathlib import Path

import pytest

from snakemake_runner import planned_outputs, snakemake

pytestmark = pytest.mark.incremental
DATASETS = ("toy_math", "toy_choice", "toy_trivia")
PAIR = "tiny-qwen-s~tiny-qwen-m"
TEACHER = "tiny-qwen-s@teacher-cot"


def plan_with(checkout: Path, overlay: str | None = None) -> set[tuple[str, str]]:
    args = ["-n", "table1"]
    if overlay is not None:
        (checkout / "overlay.yaml").write_text(overlay)
        args += ["--configfile", str(checkout / "config" / "config.yaml"), str(checkout / "overlay.yaml")]
    result = snakemake(checkout, *args, checkout=checkout)
    assert result.returncode == 0, result.stderr[-3000:]
    return planned_outputs(result.stdout)


def plan_after_edit(checkout: Path, relative: str, appended: str) -> set[tuple[str, str]]:
    """The plan after appending to one file of the checkout; the file is restored."""
    path = checkout / relative
    original = path.read_text()
    try:
        path.write_text(original + appended)
        return plan_with(checkout)
    finally:
        path.write_text(original)


def alice_downstream(dataset: str) -> set[tuple[str, str]]:
    """What a change to the teacher's uncertainty reruns, from the summary on."""
    return {
        ("summarize_uncertainty", f"results/uncertainty/{dataset}/{TEACHER}/all.parquet"),
        ("synthesize", f"results/labels/{dataset}/{PAIR}@alice.parquet"),
        ("sft", f"results/models/{dataset}/{PAIR}@alice"),
        ("eval", f"results/eval/{dataset}/{PAIR}@alice.parquet"),
    }


TABLE = {("table1", "results/tables/table1.md")}


def test_finished_run_plans_nothing(embedded_run):
    assert plan_with(embedded_run) == set()


def test_cluster_threshold_reruns_free_text_clustering_and_its_dependants(embedded_run):
    # Only free-text datasets cluster by similarity; numbers and choices are untouched.
    planned = plan_with(embedded_run, "stages:\n  cluster:\n    threshold: 0.5\n")
    expected = {("cluster", f"results/clusters/toy_trivia/{TEACHER}/all.parquet")} | alice_downstream("toy_trivia") | TABLE
    assert planned == expected


def test_summarizer_prompt_reruns_summaries_and_their_dependants(embedded_run):
    planned = plan_after_edit(embedded_run, "resources/prompts/summarize.txt", "\nBe brief.\n")
    assert planned == set().union(*(alice_downstream(d) for d in DATASETS)) | TABLE


def test_student_learning_rate_reruns_student_training_and_evaluation(embedded_run):
    planned = plan_with(embedded_run, "sft:\n  roles:\n    student:\n      learning_rate: 5.0e-4\n")
    students = [f"{PAIR}@{method}" for method in ("alice", "w2s-cot", "w2s-qa")]
    expected = {("sft", f"results/models/{d}/{s}") for d in DATASETS for s in students}
    expected |= {("eval", f"results/eval/{d}/{s}.parquet") for d in DATASETS for s in students}
    assert planned == expected | TABLE


def test_k_reruns_sampling_and_everything_after_it(embedded_run):
    planned = plan_with(embedded_run, "stages:\n  sample:\n    k: 5\n")
    expected = set(TABLE)
    for d in DATASETS:
        expected |= {
            ("sample", f"results/samples/{d}/{TEACHER}/all.parquet"),
            ("cluster", f"results/clusters/{d}/{TEACHER}/all.parquet"),
        } | alice_downstream(d)
    assert planned == expected


def test_a_stage_code_change_reruns_that_stage_and_its_dependants(embedded_run):
    planned = plan_after_edit(embedded_run, "src/alice_w2s/stages/cluster.py", "\n# a change to the clustering code\n")
    expected = set(TABLE)
    for d in DATASETS:
        expected |= {("cluster", f"results/clusters/{d}/{TEACHER}/all.parquet")} | alice_downstream(d)
    assert planned == expected
