"""No leakage, proven on the DAG: the gold answers of the transfer pool and of the
eval split reach only the Weak/Strong baselines' training, the evaluation and the
label-quality scoring. Every planned job of the embedded default, the toy grid and
the paper grid is checked by its inputs (dry runs, no model runs)."""

from __future__ import annotations

import re

import pytest
from snakemake_runner import ROOT, planned_jobs, snakemake

from alice_w2s.plan import parse_key

CONFIGS = {
    "default": ROOT / "config" / "config.yaml",
    "toy": ROOT / "config" / "toy.yaml",
    "paper": ROOT / "config" / "paper.yaml",
}
TRANSFER_GOLD = re.compile(r"/data/[^/]+/transfer\.parquet$")
EVAL_GOLD = re.compile(r"/data/[^/]+/eval\.parquet$")
GOLD_LABELS = re.compile(r"/labels/[^/]+/gold_sets/")  # the transfer pool's gold as training labels
# who may read each gold-bearing file
MAY_READ_TRANSFER = {"transfer_questions", "labels_gold_sets", "label_quality"}
MAY_READ_EVAL = {"eval"}


def gold_readers(jobs: list[dict]) -> list[str]:
    """Every job that reads gold it must not, one line each."""
    leaks = []
    for job in jobs:
        for path in job["input"]:
            if TRANSFER_GOLD.search(path) and job["rule"] not in MAY_READ_TRANSFER:
                leaks.append(f"{job['rule']} {job['wildcards']} reads the transfer pool's gold: {path}")
            if EVAL_GOLD.search(path) and job["rule"] not in MAY_READ_EVAL:
                leaks.append(f"{job['rule']} {job['wildcards']} reads the eval split: {path}")
            if GOLD_LABELS.search(path):
                baseline = job["rule"] == "sft" and parse_key(job["wildcards"]["key"]).method == "gold"
                if not baseline and job["rule"] != "label_quality":
                    leaks.append(f"{job['rule']} {job['wildcards']} reads gold labels: {path}")
    return leaks


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def every_job(request, tmp_path_factory) -> tuple[str, list[dict]]:
    workdir = tmp_path_factory.mktemp(f"leak-{request.param}")
    result = snakemake(workdir, "-n", "--forceall", "all", "--configfile", str(CONFIGS[request.param]), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return request.param, planned_jobs(result.stdout)


def test_no_job_but_the_baselines_evaluation_and_scoring_reads_gold(every_job):
    name, jobs = every_job
    assert len(jobs) > 30, (name, len(jobs))
    assert gold_readers(jobs) == [], name
    # the stages that work on the pool read the gold-free file instead
    pool_readers = {j["rule"] for j in jobs if any(p.endswith("/transfer_questions.parquet") for p in j["input"])}
    assert {"sample", "cluster", "zeroshot", "synthesize", "w2s_answers"} <= pool_readers, (name, pool_readers)


def test_the_check_finds_a_leak():
    """The check itself fails on a stage that reads gold (so the test above can fail)."""
    jobs = [
        {"rule": "sample", "wildcards": {"dataset": "d"}, "input": ["results/data/d/transfer.parquet"]},
        {"rule": "synthesize", "wildcards": {"key": "w~s@alice"}, "input": ["results/data/d/eval.parquet"]},
        {"rule": "sft", "wildcards": {"key": "w~s@alice"}, "input": ["results/labels/d/gold_sets/gold.parquet"]},
        {"rule": "sft", "wildcards": {"key": "s@gold"}, "input": ["results/labels/d/gold_sets/gold.parquet"]},
        {"rule": "label_quality", "wildcards": {"key": "s@gold"}, "input": ["results/data/d/transfer.parquet"]},
    ]
    assert [line.split(" ")[0] for line in gold_readers(jobs)] == ["sample", "synthesize", "sft"]


def test_the_question_file_has_no_gold_column():
    import pandas as pd

    from alice_w2s.pools import QUESTION_COLUMNS, questions_only

    rows = pd.DataFrame({"id": ["a"], "question": ["q?"], "answer": ["1"], "aliases": [["one"]],
                         "lenient_aliases": [[]], "solution": ["1 = 1"], "answer_type": ["number"]})
    assert list(questions_only(rows).columns) == QUESTION_COLUMNS == ["id", "question", "answer_type"]
    with pytest.raises(ValueError, match="no column"):
        questions_only(rows.drop(columns="answer_type"))
