"""Change one thing at a time on a finished run of the tiny models' grid and
check the exact set of jobs Snakemake then plans: the stage that uses the
changed thing and what depends on it; nothing upstream, nothing beside."""

import os
import shutil
from pathlib import Path

import pytest
import yaml
from snakemake_runner import copy_checkout, planned_outputs, snakemake

from alice_w2s import plan

pytestmark = pytest.mark.incremental
D = "toy_trivia"  # Table 3 of the tiny models' grid, as the session's run made it
S, M, L = "tiny-qwen-s", "tiny-qwen-m", "tiny-qwen-l"
TEACHERS = (f"{S}@teacher-cot", f"{M}@teacher-cot")
DIRECT, FIRST, CASCADE = f"{M}~{L}@alice", f"{S}~{M}@alice", f"{S}~{M}~{L}@alice"
MID = f"{FIRST}.c2"
W2S = (f"{M}~{L}@w2s-cot", f"{S}~{M}@w2s-cot.c2", f"{S}~{M}~{L}@w2s-cot")


def plan_with(checkout: Path, overlay: str | None = None, *args: str, workdir: Path | None = None) -> set[tuple[str, str]]:
    args = ("-n", "table3", *args)
    if overlay is not None:
        (checkout / "overlay.yaml").write_text(overlay)
        args += ("--configfile", str(checkout / "config" / "toy.yaml"), str(checkout / "overlay.yaml"))
    result = snakemake(workdir or checkout, *args, checkout=checkout)
    assert result.returncode == 0, result.stderr[-3000:]
    return planned_outputs(result.stdout)


def plan_after_replace(checkout: Path, relative: str, old: str, new: str) -> set[tuple[str, str]]:
    """The plan after replacing ``old`` (which must occur) in one file; the file is restored."""
    path = checkout / relative
    original = path.read_text()
    assert old in original, f"{old!r} not in {relative}"
    try:
        path.write_text(original.replace(old, new, 1))
        return plan_with(checkout)
    finally:
        path.write_text(original)


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
        ("synthesize", f"results/labels/{D}/synthesized/{CASCADE}.parquet"),
    } | trained(CASCADE)


def from_uncertainty(teacher: str) -> set[tuple[str, str]]:
    """What a change to a base teacher's uncertainty reruns, from the summary on."""
    summary = {("summarize_uncertainty", f"results/uncertainty/{D}/{teacher}/all.parquet")}
    if teacher.startswith(S):  # the cascade's first link is a slice of these labels
        return summary | {
            ("synthesize", f"results/labels/{D}/synthesized/{FIRST}.parquet"),
            ("slice_labels", f"results/labels/{D}/sliced/{MID}.parquet"),
            ("sft", f"results/models/{D}/{MID}"),
        } | from_mid_model()
    return summary | {("synthesize", f"results/labels/{D}/synthesized/{DIRECT}.parquet")} | trained(DIRECT)


def clusters_of_teachers() -> set[tuple[str, str]]:
    return {("cluster", f"results/clusters/{D}/{t}/all.parquet") for t in TEACHERS}


def quality(expected: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The label_quality jobs of Table 3's students whose training set is remade in
    ``expected`` (the table scores what each of its fine-tuned models learned from)."""
    remade = {output for _, output in expected}
    students = (W2S[0], W2S[2], DIRECT, CASCADE)
    return {("label_quality", f"results/label_quality/{D}/{k}.json") for k in students
            if f"results/{plan.training_set(D, k)}" in remade}


TABLE = {("table", "results/tables/table3.md"), ("table_report", "results/report/table3/stages.html")}
ALICE = from_uncertainty(TEACHERS[0]) | from_uncertainty(TEACHERS[1])
ALICE |= quality(ALICE)


def test_finished_run_plans_nothing(toy_run):
    assert plan_with(toy_run) == set()


def test_cluster_threshold_reruns_free_text_clustering_and_its_dependants(toy_run):
    planned = plan_with(toy_run, "stages:\n  cluster:\n    threshold: 0.5\n")
    assert planned == clusters_of_teachers() | ALICE | TABLE


def test_summarizer_prompt_reruns_summaries_and_their_dependants(toy_run):
    planned = plan_after_edit(toy_run, "resources/prompts/summarize/text.txt", "\nBe brief.\n")
    assert planned == ALICE | TABLE


def test_student_learning_rate_reruns_student_training_and_what_it_teaches(toy_run):
    planned = plan_with(toy_run, "sft:\n  roles:\n    student:\n      learning_rate: 5.0e-4\n")
    expected = trained(DIRECT) | {("sft", f"results/models/{D}/{MID}")} | from_mid_model()
    expected |= trained(W2S[0]) | {("sft", f"results/models/{D}/{W2S[1]}")} | trained(W2S[2])
    expected.add(("w2s_answers", f"results/w2s_answers/{D}/{W2S[1]}/s2of2.parquet"))
    assert planned == expected | quality(expected) | TABLE


def test_k_reruns_sampling_and_everything_after_it(toy_run):
    planned = plan_with(toy_run, "stages:\n  sample:\n    k: 5\n")
    samples = {("sample", f"results/samples/{D}/{t}/all.parquet") for t in TEACHERS}
    assert planned == samples | clusters_of_teachers() | ALICE | TABLE


def test_a_stage_code_change_reruns_that_stage_and_its_dependants(toy_run):
    planned = plan_after_edit(toy_run, "src/alice_w2s/stages/cluster.py", "\nMIN_CLUSTER_SIZE = 2\n")
    assert planned == clusters_of_teachers() | ALICE | TABLE


def test_a_workflow_script_change_reruns_its_rule_and_its_dependants(toy_run):
    planned = plan_after_edit(toy_run, "workflow/scripts/cluster.py", "\nprint('clustered')\n")
    assert planned == clusters_of_teachers() | ALICE | TABLE


def touch_all(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path)


def test_a_fresh_clone_with_the_results_copied_in_plans_nothing(toy_run, tmp_path):
    """A clone's files are all newer than the results (as after `git clone`); the
    results and .snakemake/ are copied with their times (`cp -a`)."""
    clone = copy_checkout(tmp_path / "clone")
    touch_all(clone)
    for name in ("results", ".snakemake"):
        shutil.copytree(toy_run / name, clone / name, symlinks=True)
    assert plan_with(clone) == set()


def test_touching_every_file_of_the_checkout_plans_nothing(toy_run):
    for name in ("Snakefile", "rules", "workflow", "config", "resources", "src", "profiles"):
        path = toy_run / name
        touch_all(path) if path.is_dir() else os.utime(path)
    assert plan_with(toy_run) == set()


COMMENT_EDITS = [
    "src/alice_w2s/backends/generation.py",
    "src/alice_w2s/plan.py",
    "src/alice_w2s/runner.py",
    "src/alice_w2s/io.py",
    "src/alice_w2s/stages/cluster.py",
    "workflow/scripts/sample.py",
    "rules/alice.smk",
]


@pytest.mark.parametrize("relative", COMMENT_EDITS)
def test_a_comment_plans_nothing(toy_run, relative):
    assert plan_after_edit(toy_run, relative, "\n# a note for the next reader\n\n") == set()


@pytest.mark.parametrize("relative", ["src/alice_w2s/plan.py", "src/alice_w2s/io.py", "src/alice_w2s/runner.py"])
def test_a_docstring_edit_plans_nothing(toy_run, relative):
    original = (toy_run / relative).read_text()
    first_line = original.split("\n", 1)[0]
    assert first_line.startswith('"""'), relative
    assert plan_after_replace(toy_run, relative, first_line, first_line + " Reworded.") == set()


def full_plan(checkout: Path) -> set[tuple[str, str]]:
    return plan_with(checkout, None, "--forceall")


def test_a_generation_backend_change_reruns_only_what_generates_and_its_dependants(toy_run):
    planned = plan_after_edit(toy_run, "src/alice_w2s/backends/generation.py", "\nDEFAULT_BATCH = 16\n")
    untouched_rules = {"prepare_data", "transfer_questions", "build_tokenizer", "build_tiny_model", "labels_gold_sets"}
    everything = full_plan(toy_run)
    # models fine-tuned on gold labels: nothing upstream of them generates text
    gold_trained = {job for job in everything if job[0] == "sft" and job[1].endswith(("@gold", "@teacher-qa"))}
    # and the scores of their gold labels
    gold_trained |= {job for job in everything if job[0] == "label_quality" and job[1].endswith("@gold.json")}
    expected = {job for job in everything if job[0] not in untouched_rules} - gold_trained
    assert gold_trained and planned == expected


BESIDE_THE_RUN = [
    # bookkeeping (alice_w2s.fingerprint, OUTPUT_CODE): what a manifest records
    ("src/alice_w2s/io.py", '"host": socket.gethostname(),', '"host": socket.getfqdn(),'),
    ("src/alice_w2s/runner.py", 'log.info("done in %.1fs', 'log.warning("done in %.1fs'),
    # the normaliser of a kind the run does not use (HotpotQA's; the tiny models'
    # warm-up corpus draws on the toy kinds)
    ("src/alice_w2s/datasets/registry.py", '"answer": record["answer"].strip(),', '"answer": record["answer"],'),
    # the HTTP client of served models (the run's models are local)
    ("src/alice_w2s/backends/served.py", "MAX_BACKOFF_S = 60.0", "MAX_BACKOFF_S = 30.0"),
]


@pytest.mark.parametrize(("relative", "old", "new"), BESIDE_THE_RUN, ids=lambda v: v.split("/")[-1] if "/" in v else None)
def test_a_behaviour_change_beside_what_the_jobs_run_plans_nothing(toy_run, relative, old, new):
    assert plan_after_replace(toy_run, relative, old, new) == set()


def test_its_own_answer_types_extraction_reruns_what_reads_answers(toy_run):
    planned = plan_after_replace(toy_run, "src/alice_w2s/answers.py", "return _clean_text_answer(found)", "return found")
    rules = {rule for rule, _ in planned}
    assert {"sample", "cluster", "eval"} <= rules
    # On this config that is everything from the tiny models on: their warm-up
    # corpus is built from the toy kinds through code that reads answers (which jobs
    # of other kinds stay put is tests/test_fingerprint.py's)
    assert "build_tiny_model" in rules


def test_a_table_layout_change_reruns_only_the_tables(toy_run):
    assert plan_after_edit(toy_run, "src/alice_w2s/tables.py", "\nCOLUMN_ORDER = None\n") == TABLE


def test_the_config_written_in_another_key_order_plans_nothing(toy_run):
    def reordered(value):
        if isinstance(value, dict):
            return {key: reordered(value[key]) for key in reversed(list(value))}
        return [reordered(v) for v in value] if isinstance(value, list) else value

    config = yaml.safe_load((toy_run / "config" / "toy.yaml").read_text())
    (toy_run / "reordered.yaml").write_text(yaml.safe_dump(reordered(config), sort_keys=False))
    assert plan_with(toy_run, None, "--configfile", str(toy_run / "reordered.yaml")) == set()
