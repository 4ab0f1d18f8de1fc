"""Adding a dataset kind is a registry entry: this file adds one, with an answer
type of its own and a toy generator, without touching any other module of the
package, and checks that the rest of the package asks the registry for it.

Snakemake jobs run the package in processes of their own, so a kind registered
here reaches in-process calls only (a real extension registers its kind in
``datasets/registry.py``, and its answer type in ``answers.py``)."""

import dataclasses
import random
import re
import shutil

import pandas as pd
import pytest
from snakemake_runner import ROOT

from alice_w2s import answers
from alice_w2s.config import ConfigError, load_yaml, validate
from alice_w2s.datasets import corpus, registry, toy
from alice_w2s.datasets.prepare import prepare
from alice_w2s.prompts import Prompts
from alice_w2s.stages import evaluate, labels
from alice_w2s.stages.cluster import cluster_samples

# --- the extension: an answer type and a dataset kind ----------------------------------

_VERDICT_RE = re.compile(r"Verdict:[ \t]*(yes|no)\b", re.IGNORECASE)
_LAST_WORD_RE = re.compile(r"\b(yes|no)\b[.!]?\s*$", re.IGNORECASE)


def _strict_verdict(response: str) -> str | None:
    found = _VERDICT_RE.findall(response)
    return found[-1].lower() if found else None


def _flexible_verdict(response: str) -> str | None:
    found = _strict_verdict(response) or _LAST_WORD_RE.findall(response.strip())
    return (found if isinstance(found, str) else found[-1]).lower() if found else None


YESNO = answers.AnswerType(
    "yesno",
    final_line="Verdict: {answer}",
    strict=_strict_verdict,
    flexible=_flexible_verdict,
    canonical=lambda gold: gold.strip().lower(),  # exact match; clustered by equal verdicts
    warmup="Weighing it up, the answer is {answer}.",
)


def parity_records(n: int, seed: int) -> list[dict]:
    """A toy generator: records in a hub shape of this dataset's own."""
    rng = random.Random(f"parity:{seed}")
    return [{"uid": f"parity-{i:04d}", "number": rng.randint(1, 999)} for i in range(n)]


def normalize_parity(record: dict, position: int) -> dict:
    return {
        "id": record["uid"],
        "question": f"Is {record['number']} an even number?",
        "answer": "yes" if record["number"] % 2 == 0 else "no",
        "aliases": [],
        "lenient_aliases": [],
        "solution": None,
    }


# No "toy_" prefix: whether a kind is a toy is its registry entry's business.
PARITY = registry.DatasetSpec("parity", "yesno", normalize_parity, toy=parity_records)


@pytest.fixture
def parity():
    answers.register_answer_type(YESNO)
    spec = registry.register(PARITY)
    yield spec
    registry.REGISTRY.pop(PARITY.name)
    answers.ANSWER_TYPES.pop(YESNO.name)


def _config(kind: str, source: str = "toy") -> dict:
    config = load_yaml(ROOT / "config" / "toy.yaml")
    dataset = {"kind": kind, "source": source}
    dataset.update({"toy": {"n_train": 40, "n_eval": 10, "seed": 3}} if source == "toy" else {"hub_id": "x/y"})
    config["datasets"]["mine"] = dataset
    return config


# --- the rest of the package asks the registry -----------------------------------------


def test_config_validation_asks_the_registry(parity):
    assert validate(_config("parity"))["datasets"]["mine"]["kind"] == "parity"
    with pytest.raises(ConfigError, match=r"datasets\.mine\.source: toy kinds need source 'toy'"):
        validate(_config("parity", source="hub"))


def test_an_unregistered_kind_is_a_config_error():
    with pytest.raises(ConfigError, match=r"datasets\.mine\.kind: unknown dataset kind 'parity'"):
        validate(_config("parity"))


def test_registration_checks_the_answer_type_and_the_name(parity):
    with pytest.raises(ValueError, match="unknown answer_type 'maybe'"):
        registry.register(registry.DatasetSpec("other", "maybe", normalize_parity))
    with pytest.raises(ValueError, match="registered already"):
        registry.register(dataclasses.replace(PARITY, has_human_cot=True))
    assert registry.register(PARITY) is PARITY  # the same entry again is no conflict


def test_toy_generation_and_preparation_use_its_generator(parity):
    assert toy.generate("parity", 12, 3) == parity_records(12, 3) != toy.generate("parity", 12, 4)
    parts = prepare("mine", validate(_config("parity"))["datasets"]["mine"])
    assert [len(parts[p]) for p in ("teacher", "transfer", "eval")] == [20, 20, 10]
    assert set(parts["eval"]["answer_type"]) == {"yesno"}
    assert set(parts["eval"]["answer"]) <= {"yes", "no"}


def test_extraction_scoring_and_labels_come_from_its_answer_type(parity):
    assert parity.answer is YESNO and answers.get_answer_type("yesno") is YESNO
    rows = prepare("mine", validate(_config("parity"))["datasets"]["mine"])["eval"]
    qa = labels.qa_set(rows, parity)
    assert all(label.startswith("Verdict: ") for label in qa["label"])
    # every row's own label scores as correct, through the evaluation stage
    items = evaluate.score_responses(rows, parity, qa["label"].tolist())
    assert items["correct"].all() and items["strict_correct"].all()
    row = rows.iloc[0].to_dict()
    other = "no" if row["answer"] == "yes" else "yes"
    flexible = evaluate.score_responses(rows.iloc[:1], parity, [f"I would say {row['answer'].upper()}."]).iloc[0]
    assert flexible["correct"] and flexible["strict_extracted"] is None
    assert not parity.score(f"Verdict: {other}", row).correct
    assert not parity.score("I cannot tell.", row).parsed
    assert parity.extract("Verdict: YES\nVerdict: no") == "no"


def test_clustering_mode_comes_from_its_answer_type(parity):
    questions = pd.DataFrame({"id": ["q"], "question": ["Is 4 an even number?"]})
    samples = pd.DataFrame({
        "id": ["q"] * 5,
        "sample_idx": range(5),
        "response": ["Verdict: yes", "Verdict: no", "yes", "Verdict: yes", "unsure"],
    })
    samples["extracted"] = [parity.extract(r) for r in samples["response"]]
    # exact answers cluster by equal extracted answers: no embedder needed
    out = cluster_samples(samples, questions, parity.answer_type)
    assert out[["size", "answer", "is_final"]].values.tolist() == [[3, "yes", True]]
    by_embedding = dataclasses.replace(YESNO, clusters_by_embedding=True)
    with pytest.raises(ValueError, match="needs an embedder and a threshold"):
        cluster_samples(samples, questions, by_embedding)


def test_a_warmup_kind_joins_the_tiny_models_corpus(parity, tmp_path, monkeypatch):
    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "resources" / "prompts", prompts)
    (prompts / "question" / "yesno.txt").write_text("{question}\n\nEnd with the line \"Verdict: yes\" or \"Verdict: no\".\n")
    before = corpus.warmup_conversations(4, 0, Prompts(prompts))
    monkeypatch.setitem(registry.REGISTRY, "parity", dataclasses.replace(PARITY, warmup_corpus=True))
    after = corpus.warmup_conversations(4, 0, Prompts(prompts))
    assert len(after) == len(before) + 4
    answers_given = [conv[1]["content"] for conv in after if "even number" in conv[0]["content"]]
    assert len(answers_given) == 4
    assert all(a.startswith("Weighing it up") and YESNO.extract(a, strict=True) in ("yes", "no") for a in answers_given)
