"""The DAG's shape, by dry run: which jobs each target plans."""

from snakemake_runner import ROOT, job_counts, snakemake


def test_default_table1_plans_every_stage_once_per_dataset(tmp_path):
    result = snakemake(tmp_path, "-n", "table1")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    datasets = 3
    assert counts["prepare_data"] == datasets
    for rule in ("sample", "cluster", "summarize_uncertainty", "zeroshot", "synthesize", "cot_filter"):
        assert counts[rule] == datasets, rule
    # two W2SG teachers (Q-A, Q-CoT-A) answer the pool; five rows are evaluated
    assert counts["w2s_answers"] == 2 * datasets
    assert counts["eval"] == 5 * datasets
    # teacher-cot, teacher-qa, weak gold, strong gold, w2s-qa, w2s-cot, alice
    assert counts["sft"] == 7 * datasets
    # only the models Table 1 uses are built (weak, strong, summarizer)
    assert counts["build_embedded_model"] == 3 and counts["table1"] == 1


def test_paper_table1_plans_without_network_or_gpu(tmp_path):
    result = snakemake(tmp_path, "-n", "table1", "--configfile", str(ROOT / "config" / "paper.yaml"))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    # 4 datasets x 2 blocks; no tiny models leak in from the embedded default
    assert counts["sample"] == 8 and counts["eval"] == 40 and counts["sft"] == 56
    assert "build_embedded_model" not in counts and "toy_" not in result.stdout


def test_sample_job_is_shared_by_students_of_one_teacher(tmp_path):
    """Two students of the same teacher need its samples once."""
    overlay = tmp_path / "two_students.yaml"
    overlay.write_text(
        "table1:\n  datasets: [toy_math]\n  blocks:\n"
        "    - {name: a, weak: tiny-qwen-s, strong: tiny-qwen-m}\n"
        "    - {name: b, weak: tiny-qwen-s, strong: tiny-qwen-l}\n"
    )
    result = snakemake(tmp_path, "-n", "table1", "--configfile", str(ROOT / "config" / "config.yaml"), str(overlay))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["sample"] == 1 and counts["synthesize"] == 2 and counts["zeroshot"] == 2


def test_wrong_config_value_stops_before_any_job_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "config.yaml").read_text().replace("k: 6,", "k: 1,"))
    result = snakemake(tmp_path, "-n", "--configfile", str(bad))
    assert result.returncode != 0
    error_lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert error_lines == ["error: config key stages.sample.k: 1 is less than the minimum of 2"]
    assert not (tmp_path / "results").exists()


def test_lint_is_clean_but_for_conda(tmp_path):
    """`snakemake --lint` finds nothing but the advice to give each rule a conda
    env: this project installs into one venv (scripts/install.sh) instead."""
    result = snakemake(ROOT, "--lint")
    output = result.stdout + result.stderr  # where lint writes differs with the terminal
    findings = [line.strip() for line in output.splitlines() if line.strip().startswith("* ")]
    assert findings, "lint printed nothing; did its format change?"
    assert set(findings) == {"* Specify a conda environment or container for each rule.:"}, output
