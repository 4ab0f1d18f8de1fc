"""The DAG's shape, by dry run: which jobs each target plans, and that no two of
them compute the same thing."""

import itertools

import pytest
from snakemake_runner import ROOT, job_counts, planned_jobs, snakemake

from alice_w2s import plan
from alice_w2s.pools import select_pool

PAPER = str(ROOT / "config" / "paper.yaml")
# Rules that answer the questions of one pool with one model.
PER_QUESTION = ("sample", "cluster", "summarize_uncertainty", "zeroshot", "w2s_answers")


def test_default_table1_plans_direct_and_cascade_columns(tmp_path):
    result = snakemake(tmp_path, "-n", "table1")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    datasets = 3
    assert counts["prepare_data"] == datasets
    # the teacher once on the whole pool, the cascade's trained mid once on slice 2/2
    for rule in ("sample", "cluster", "summarize_uncertainty", "zeroshot", "synthesize"):
        assert counts[rule] == 2 * datasets, rule
    # the cascade's first links (Alice, Q-CoT-A, Q-A) slice the direct pair's labels
    assert counts["slice_labels"] == 3 * datasets
    assert counts["w2s_answers"] == 4 * datasets
    # Weak, Q-A, Q-CoT-A, Alice, Strong, for each of the two blocks; Weak is shared
    assert counts["eval"] == 9 * datasets
    # 2 teachers, 3 gold baselines, 3 direct students, 3 first links, 3 cascade students
    assert counts["sft"] == 14 * datasets
    assert counts["build_tiny_model"] == 4 and counts["table"] == 1


def test_default_table2_and_table3_plan_their_rows(tmp_path):
    for table, evals in (("table2", 7 + 2 + 1), ("table3", 4 + 3)):
        result = snakemake(tmp_path, "-n", table)
        assert result.returncode == 0, result.stderr
        counts = job_counts(result.stdout)
        # rows + their PGR baselines (table2: Weak s and l, and the cross-model row's
        # own weak baseline tiny-llama-s; table3: Weak s and m, Strong l)
        assert counts["eval"] == evals, table
        assert counts[table] == 1 and "table1" not in counts
        if table == "table2":
            jobs = planned_jobs(result.stdout)
            # the ablation's teachers are clustered but never summarized
            summarized = [j["wildcards"]["teacher"] for j in jobs if j["rule"] == "summarize_uncertainty"]
            clustered = [j["wildcards"]["teacher"] for j in jobs if j["rule"] == "cluster"]
            assert any("alice-no-unc" in t for t in clustered) and not any("alice-no-unc" in t for t in summarized)
            # multi-teacher: one synthesis reads both teachers' summaries
            multi = next(j for j in jobs if j["rule"] == "synthesize" and "+" in j["wildcards"]["key"])
            assert sum("/uncertainty/" in i for i in multi["input"]) == 2


def test_the_quickstart_demo_runs_every_stage_on_one_dataset(tmp_path):
    # README line 1 builds table_demo: it must show every stage of the method (the CoT
    # filter that generates, K samples, free-text clustering, the summarizer, the
    # student's synthesis, a cascade's slice, both original-W2SG baselines, an ablation)
    result = snakemake(tmp_path, "-n", "table_demo")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    for rule in ("cot_filter", "sample", "cluster", "summarize_uncertainty", "zeroshot", "synthesize",
                 "slice_labels", "w2s_answers", "labels_gold_sets", "labels_teacher_cot", "sft", "eval", "table"):
        assert counts.get(rule), rule
    assert counts["prepare_data"] == 1 and counts["build_tiny_model"] == 4
    evaluated = {j["wildcards"]["key"] for j in planned_jobs(result.stdout) if j["rule"] == "eval"}
    assert {"tiny-qwen-s~tiny-qwen-m@w2s-qa", "tiny-qwen-s~tiny-qwen-m@w2s-cot", "tiny-qwen-s~tiny-qwen-m@alice",
            "tiny-qwen-s~tiny-qwen-m~tiny-qwen-l@alice", "tiny-qwen-s~tiny-qwen-m~tiny-qwen-l@alice-no-unc"} <= evaluated


def test_paper_grid_plans_without_network_or_gpu(tmp_path):
    result = snakemake(tmp_path, "-n", "table1", "table2", "table3", "--configfile", PAPER)
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert "build_tiny_model" not in counts and "toy_" not in result.stdout
    assert counts["table"] == 3
    # the jobs each computes one thing (see test below)
    assert_no_duplicate_jobs(planned_jobs(result.stdout))


def test_all_tables_of_the_default_hold_no_duplicate_jobs(tmp_path):
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    assert len(jobs) == job_counts(result.stdout)["total"]
    assert_no_duplicate_jobs(jobs)
    # the single-turn teacher's samples serve Table 1's direct and cascade columns,
    # Table 2's rows and Table 3's: one sample job per dataset for it
    teacher = [j for j in jobs if j["rule"] == "sample" and j["wildcards"]["teacher"] == "tiny-qwen-s@teacher-cot"]
    assert sorted(j["wildcards"]["dataset"] for j in teacher) == ["toy_choice", "toy_math", "toy_trivia"]


def _rows(pool):
    return set(range(1000)[select_pool(1000, pool)])


def signature(job):
    """What a job computes: its rule, its inputs, the question slice it covers, and
    the wildcards its inputs do not already pin (a dataset made from nothing, a hub
    model with no files). A trained model is pinned by its labels and base model."""
    wildcards = job["wildcards"]
    extra = {k: v for k, v in wildcards.items() if k not in ("key", "pool") and not any(v in i for i in job["input"])}
    pool = wildcards.get("pool")
    if "key" in wildcards:
        key = plan.parse_key(wildcards["key"])
        extra["model"] = str(key) if key.is_base else key.name
        if job["rule"] == "slice_labels":
            pool = key.pool
    return job["rule"], frozenset(job["input"]), pool, tuple(sorted(extra.items()))


def assert_no_duplicate_jobs(jobs):
    """No two jobs compute the same thing: the same signature, or one model
    answering overlapping questions of the same pool."""
    seen = {}
    for job in jobs:
        for name in ("key", "teacher"):
            if name in job["wildcards"]:  # one spelling per model, so one path per model
                assert str(plan.parse_key(job["wildcards"][name])) == job["wildcards"][name]
        sig = signature(job)
        assert sig not in seen, f"{job['output']} repeats {seen.get(sig)}"
        seen[sig] = job["output"]
    groups = {}
    for job in jobs:
        if job["rule"] in PER_QUESTION:
            wildcards = job["wildcards"]
            group = (job["rule"], *sorted((k, v) for k, v in wildcards.items() if k != "pool"))
            groups.setdefault(group, []).append(wildcards["pool"])
    for group, pools in groups.items():
        for a, b in itertools.combinations(pools, 2):
            assert not _rows(a) & _rows(b), f"{group}: pools {a} and {b} overlap"


@pytest.mark.parametrize(
    "jobs",
    [
        [{"rule": "sample", "input": ["x"], "output": ["o1"], "wildcards": {"teacher": "a@teacher-cot", "pool": p}} for p in ("all", "s1of2")],
        [{"rule": "sft", "input": ["l"], "output": [o], "wildcards": {"key": k}} for o, k in (("o1", "a~b@alice"), ("o2", "a~b@alice.c1"))],
        [{"rule": "synthesize", "input": ["u", "z"], "output": [o], "wildcards": {"key": k}} for o, k in (("o1", "a~b@alice"), ("o2", "c~b@alice"))],
    ],
)
def test_the_duplicate_check_can_fail(jobs):
    with pytest.raises(AssertionError):
        assert_no_duplicate_jobs(jobs)


def test_sample_job_is_shared_by_students_of_one_teacher(tmp_path):
    """Two students of the same teacher need its samples once."""
    overlay = tmp_path / "two_students.yaml"
    overlay.write_text(
        "tables:\n  table1:\n    datasets: [toy_math]\n    blocks:\n"
        "      - {name: a, chain: [tiny-qwen-s, tiny-qwen-m]}\n"
        "      - {name: b, chain: [tiny-qwen-s, tiny-qwen-l]}\n"
    )
    result = snakemake(tmp_path, "-n", "table1", "--configfile", str(ROOT / "config" / "toy.yaml"), str(overlay))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["sample"] == 1 and counts["synthesize"] == 2 and counts["zeroshot"] == 2


def test_wrong_config_value_stops_before_any_job_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "toy.yaml").read_text().replace("k: 6,", "k: 1,"))
    result = snakemake(tmp_path, "-n", "--configfile", str(bad))
    assert result.returncode != 0
    error_lines = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and not line.startswith("Using workflow specific profile")  # Snakemake's notice, not an error
    ]
    assert error_lines == ["error: config key stages.sample.k: 1 is less than the minimum of 2"]
    assert not (tmp_path / "results").exists()


def test_lint_is_clean_but_for_conda(tmp_path):
    """`snakemake --lint` finds nothing but the advice to give each rule a conda
    env: this project installs into one venv (tools/install.sh) instead."""
    result = snakemake(ROOT, "--lint")
    output = result.stdout + result.stderr  # where lint writes differs with the terminal
    findings = [line.strip() for line in output.splitlines() if line.strip().startswith("* ")]
    assert findings, "lint printed nothing; did its format change?"
    assert set(findings) == {"* Specify a conda environment or container for each rule.:"}, output


def test_gguf_conversion_asks_for_no_gpu_even_for_a_gpu_model(tmp_path):
    # the conversion dequantizes on CPU: a GPU held by it would idle for the whole job
    overlay = tmp_path / "gpu.yaml"
    overlay.write_text("models:\n  smollm2: {gpus: 1}\n")
    default = str(ROOT / "config" / "config.yaml")
    result = snakemake(tmp_path, "-n", "results/base_models/smollm2", "--configfile", default, str(overlay))
    assert result.returncode == 0, result.stderr
    block = next(b for b in result.stdout.split("\n\n") if "rule build_gguf_model:" in b)
    assert "gpu=0," in block and "cpus_per_task=1," in block
