"""The rules' input functions as plain code (alice_w2s.job_paths): which files a job
reads for a model key, a student, a trained model's label quality and a table."""

import copy

import pytest
import yaml
from snakemake_runner import ROOT

from alice_w2s.config import load_schema, validate
from alice_w2s.job_paths import JobPaths

D = "toy_trivia"
S, M, L = "tiny-qwen-s", "tiny-qwen-m", "tiny-qwen-l"


@pytest.fixture(scope="module")
def toy() -> dict:
    return validate(yaml.safe_load((ROOT / "config" / "toy.yaml").read_text()), load_schema())


@pytest.fixture
def paths(toy) -> JobPaths:
    return JobPaths(copy.deepcopy(toy))


def test_unfilled_fields_stay_wildcards(paths):
    assert paths.data("teacher") == "results/data/{dataset}/teacher.parquet"
    assert paths.data("transfer_questions", dataset=D) == f"results/data/{D}/transfer_questions.parquet"
    assert paths.outputs("eval") == {
        "per_item": "results/eval/{dataset}/{key}.parquet",
        "summary": "results/eval/{dataset}/{key}.json",
    }


def test_the_files_a_model_key_loads(paths):
    assert paths.model_files(D, S) == [f"results/base_models/{S}"]
    assert paths.model_files(D, f"{S}@teacher-cot") == [f"results/models/{D}/{S}@teacher-cot"]
    assert paths.model_location(D, f"{S}@teacher-cot") == {"path": f"results/models/{D}/{S}@teacher-cot", "revision": None}
    paths.models["hubbed"] = {"source": "hub", "path": "org/model", "revision": "abc"}
    assert paths.model_files(D, "hubbed") == []
    assert paths.model_location(D, "hubbed") == {"path": "org/model", "revision": "abc"}
    paths.models["far"] = {"source": "served", "url": "http://gpu:8000/v1", "model": "big", "api_key_env": "KEY"}
    assert paths.model_files(D, "far") == []
    location = paths.model_location(D, "far")
    assert location["source"] == "served" and location["api_key_env"] == "KEY" and "client" in location


def test_a_student_reads_its_teachers_summaries_or_only_their_clusters(paths):
    alice = paths.synthesis_inputs(D, f"{S}~{M}@alice")
    assert alice["uncertainty"] == [f"results/uncertainty/{D}/{S}@teacher-cot/all.parquet"]
    assert alice["zeroshot"] == f"results/zeroshot/{D}/{M}/all.parquet"
    assert alice["model"] == [f"results/base_models/{M}"]
    ablation = paths.synthesis_inputs(D, f"{S}~{M}@alice-no-unc")
    assert "uncertainty" not in ablation
    assert ablation["clusters"] == [f"results/clusters/{D}/{S}@teacher-cot/all.parquet"]
    # a cascade's second link is taught by the trained mid on slice 2 of 2
    cascade = paths.synthesis_inputs(D, f"{S}~{M}~{L}@alice")
    assert cascade["uncertainty"] == [f"results/uncertainty/{D}/{S}~{M}@alice.c2/s2of2.parquet"]
    with pytest.raises(ValueError):
        paths.synthesis_inputs(D, f"{S}~{M}@w2s-cot")


def test_label_quality_reads_the_teachers_clusters_of_an_alice_student_only(paths):
    alice = paths.label_quality_inputs(D, f"{S}~{M}@alice")
    assert alice["labels"] == f"results/labels/{D}/synthesized/{S}~{M}@alice.parquet"
    assert alice["clusters"] == [f"results/clusters/{D}/{S}@teacher-cot/all.parquet"]
    gold = paths.label_quality_inputs(D, f"{M}@gold")
    assert gold == {
        "labels": f"results/labels/{D}/gold_sets/gold.parquet",
        "teacher": f"results/data/{D}/teacher.parquet",
        "transfer": f"results/data/{D}/transfer.parquet",
    }


def test_teacher_inputs_follow_the_settings_and_the_dataset(paths):
    paths.config["stages"]["teacher_qa"]["questions"] = "cot_survivors"
    assert paths.teacher_qa_inputs(D, S)["cot"] == f"results/cot/{D}/{S}.parquet"
    paths.config["stages"]["teacher_qa"]["questions"] = "all"
    assert paths.teacher_qa_inputs(D, S) == {"teacher_half": f"results/data/{D}/teacher.parquet"}
    assert paths.cot_model("toy_math", S) == []  # human worked solutions: nothing generates
    assert paths.cot_model(D, S) == [f"results/base_models/{S}"]


def test_a_table_reads_every_cells_evaluation_and_the_label_quality_of_trained_models(paths, toy):
    inputs = paths.table_inputs("table3")
    assert len(inputs["summaries"]) == len(inputs["per_item"]) == len(set(inputs["summaries"]))
    assert all(p.startswith(f"results/eval/{D}/") for p in inputs["summaries"])
    assert f"results/label_quality/{D}/{M}~{L}@alice.json" in inputs["label_quality"]
    assert all("@" in p.rsplit("/", 1)[1] for p in inputs["label_quality"])  # a base model learned nothing
