"""Change one thing at a time on a finished run of the embedded default and
check the exact set of jobs Snakemake then plans: the stage that uses the
changed thing and what depends on it; nothing upstream, nothing beside."""

from pathlib import Path

import pytest

from snakemake_runner import planned_outputs, snakemake

pytestmark = pytest.mark.incremental
D = "toy_trivia"  # Table 3 of the embedded default, as the session's run made it
S, M, L = "tiny-qwen-s", "tiny-qwen-m", "tiny-qwen-l"
TEACHERS = (f"{S}@teacher-cot", f"{M}@teacher-cot")
DIRECT, FIRST, CASCADE = f"{M}~{L}@alice", f"{S}~{M}@alice", f"{S}~{M}~{L}@alice"
MID = f"{FIRST}.c2"
W2S = (f"{M}~{L}@w2s-cot", f"{S}~{M}@w2s-cot.c2", f"{S}~{M}~{L}@w2s-cot")


def plan_with(checkout: Path, overlay: str | None = None) -> set[tuple[str, str]]:
    args = ["-n", "table3"]
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


def trained(key: str) -> set[tuple[str, str]]:
    return {("sft", f"results/models/{D}/{key}"), ("eval", f"results/eval/{D}/{key}.parquet")}


def from_mid_model() -> set[tuple[str, str]]:
    """What a change to the cascade's trained mid reruns: its link-2 teaching."""
    return {
        ("sample", f"results/samples/{D}/{MID}/s2of2.parquet"),
        ("cluster", f"results/clusters/{D}/{MID}/s2of2.parquet"),
        ("summarize_uncertainty", f"results/uncertainty/{D}/{MID}/s2of2.parquet"),
        ("synthesize", f"results/labels/{D}/{CASCADE}.parquet"),
    } | trained(CASCADE)


def from_uncertainty(teacher: str) -> set[tuple[str, str]]:
    """What a change to a base teacher's uncertainty reruns, from the summary on."""
    summary = {("summarize_uncertainty", f"results/uncertainty/{D}/{teacher}/all.parquet")}
    if teacher.startswith(S):  # the cascade's first link is a slice of these labels
        return summary | {
            ("synthesize", f"results/labels/{D}/{FIRST}.parquet"),
            ("slice_labels", f"results/labels/{D}/{MID}.parquet"),
            ("sft", f"results/models/{D}/{MID}"),
        } | from_mid_model()
    return summary | {("synthesize", f"results/labels/{D}/{DIRECT}.parquet")} | trained(DIRECT)


def clusters_of_teachers() -> set[tuple[str, str]]:
    return {("cluster", f"results/clusters/{D}/{t}/all.parquet") for t in TEACHERS}


TABLE = {("table", "results/tables/table3.md"), ("table_report", "results/report/table3/stages.html")}
ALICE = from_uncertainty(TEACHERS[0]) | from_uncertainty(TEACHERS[1])


def test_finished_run_plans_nothing(embedded_run):
    assert plan_with(embedded_run) == set()


def test_cluster_threshold_reruns_free_text_clustering_and_its_dependants(embedded_run):
    planned = plan_with(embedded_run, "stages:\n  cluster:\n    threshold: 0.5\n")
    assert planned == clusters_of_teachers() | ALICE | TABLE


def test_summarizer_prompt_reruns_summaries_and_their_dependants(embedded_run):
    planned = plan_after_edit(embedded_run, "resources/prompts/summarize.txt", "\nBe brief.\n")
    assert planned == ALICE | TABLE


def test_student_learning_rate_reruns_student_training_and_what_it_teaches(embedded_run):
    planned = plan_with(embedded_run, "sft:\n  roles:\n    student:\n      learning_rate: 5.0e-4\n")
    expected = trained(DIRECT) | {("sft", f"results/models/{D}/{MID}")} | from_mid_model()
    expected |= trained(W2S[0]) | {("sft", f"results/models/{D}/{W2S[1]}")} | trained(W2S[2])
    expected.add(("w2s_answers", f"results/w2s_answers/{D}/{W2S[1]}/s2of2.parquet"))
    assert planned == expected | TABLE


def test_k_reruns_sampling_and_everything_after_it(embedded_run):
    planned = plan_with(embedded_run, "stages:\n  sample:\n    k: 5\n")
    samples = {("sample", f"results/samples/{D}/{t}/all.parquet") for t in TEACHERS}
    assert planned == samples | clusters_of_teachers() | ALICE | TABLE


def test_a_stage_code_change_reruns_that_stage_and_its_dependants(embedded_run):
    planned = plan_after_edit(embedded_run, "src/alice_w2s/stages/cluster.py", "\n# a change to the clustering code\n")
    assert planned == clusters_of_teachers() | ALICE | TABLE
