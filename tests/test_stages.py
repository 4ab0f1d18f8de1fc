"""Each stage's own logic, with a scripted stand-in model (see conftest.py)."""

import numpy as np
import pandas as pd
import pytest

from alice_w2s.backends.generation import Sampling
from alice_w2s.datasets.registry import get_spec
from alice_w2s.prompts import Prompts
from alice_w2s.stages import cluster, cot, evaluate, labels, sample, student, summarize

PROMPTS = Prompts()


def test_rejection_sampling_keeps_the_first_correct_try(scripted, math_rows):
    spec = get_spec("gsm8k")
    # m1: tries 0,1 wrong, try 2 right; m2: never right.
    gen = scripted(lambda p, i: "#### 5" if ("2 + 3" in p and i == 2) else "#### 0")
    rows, _ = cot.rejection_sample(math_rows, spec, gen, Sampling(temperature=0.7, n=4), PROMPTS)
    assert rows["correct"].tolist() == [True, False]
    assert rows["tries_used"].tolist() == [3, 4]
    assert "one to three sentences" in gen.calls[0][0][0]  # the CoT instruction is in the prompt
    assert gen.calls[0][1].n == 4  # all tries in one request per question
    assert len(labels.teacher_cot_set(rows)) == 1


def test_human_cot_needs_no_model(math_rows):
    rows = cot.human_cot(math_rows, get_spec("gsm8k"))
    assert rows["correct"].all() and rows["response"].str.endswith("#### 5").iloc[0]


def test_sampling_asks_k_per_question_in_one_request(scripted, math_rows):
    gen = scripted(lambda p, i: f"#### {i}")
    samples, _ = sample.sample_responses(math_rows, get_spec("gsm8k"), gen, Sampling(temperature=0.9, n=5), PROMPTS)
    assert len(gen.calls) == 1 and len(gen.calls[0][0]) == 2
    assert samples.groupby("id").size().tolist() == [5, 5]
    assert samples["extracted"].tolist()[:3] == ["0", "1", "2"]


def test_greedy_answer_clusters_drop_unparsed_and_singletons():
    samples = pd.DataFrame(
        {
            "id": ["q"] * 7,
            "sample_idx": range(7),
            "response": ["a #### 1", "b #### 2", "c #### 1", "none", "d #### 2", "e #### 1", "f #### 3"],
            "extracted": ["1", "2", "1", None, "2", "1", "3"],
        }
    )
    out = cluster.cluster_samples(samples, pd.DataFrame({"id": ["q"], "question": ["?"]}), "number", threshold=0.9)
    assert out["size"].tolist() == [3, 2]  # the "3" singleton and the unparsed response are gone
    assert out["representative"].tolist() == ["a #### 1", "b #### 2"]  # the reference response
    assert out["is_final"].tolist() == [True, False]


def test_final_answer_tie_goes_to_the_earliest_cluster():
    clusters = cluster.clusters_by_answer(["2", "1", "1", "2"])
    assert clusters == [[0, 3], [1, 2]]


def test_similarity_clusters_use_the_threshold_strictly():
    vectors = np.array([[1, 0], [1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    assert cluster.clusters_by_similarity(vectors, 0.9) == [[0, 1], [2], [3]]
    assert cluster.clusters_by_similarity(vectors, 0.79) == [[0, 1, 2], [3]]
    assert cluster.clusters_by_similarity(vectors, 1.0) == [[0], [1], [2], [3]]  # above, not at


def test_free_text_clustering_with_the_bundled_embedder():
    from alice_w2s.backends.embedding import Embedder

    texts = ["The capital is Paris.", "Paris is the capital.", "It is Paris, the capital city.", "Bananas are yellow fruit."]
    samples = pd.DataFrame({"id": ["q"] * 4, "sample_idx": range(4), "response": texts, "extracted": texts})
    out = cluster.cluster_samples(
        samples, pd.DataFrame({"id": ["q"], "question": ["Capital?"]}), "text", threshold=0.6, embedder=Embedder()
    )
    assert out["size"].tolist() == [3] and out["representative"].iloc[0] == texts[0]


def _clusters(rows):
    return pd.DataFrame(rows, columns=["id", "cluster_idx", "size", "representative", "representative_idx", "answer", "is_final", "n_samples"])


def test_summarizer_runs_only_for_several_clusters(scripted):
    questions = pd.DataFrame({"id": ["one", "two", "none"], "question": ["Q1", "Q2", "Q3"]})
    clusters = _clusters(
        [["one", 0, 5, "r1", 0, "1", True, 6], ["two", 0, 3, "a", 0, "1", True, 6], ["two", 1, 2, "b", 1, "2", False, 6]]
    )
    gen = scripted(lambda p, i: "I am unsure whether to add or multiply.")
    out, _ = summarize.summarize_uncertainty(questions, clusters, gen, Sampling(temperature=0.9), PROMPTS)
    assert len(gen.calls) == 1 and len(gen.calls[0][0]) == 1
    assert "1. a" in gen.calls[0][0][0] and "2. b" in gen.calls[0][0][0]
    by_id = out.set_index("id")
    assert pd.isna(by_id.loc["one", "uncertainty"]) and by_id.loc["one", "teacher_answer"] == "r1"
    assert by_id.loc["two", "uncertainty"].startswith("I am unsure")
    assert by_id.loc["none", "n_clusters"] == 0 and pd.isna(by_id.loc["none", "teacher_answer"])


def test_synthesis_label_sources(scripted, math_rows):
    questions = pd.DataFrame({"id": ["a", "b", "c"], "question": ["Qa", "Qb", "Qc"]})
    own = pd.DataFrame({"id": ["a", "b", "c"], "response": ["mine a", "mine b", "mine c"]})
    teacher = pd.DataFrame(
        {"id": ["a", "b", "c"], "question": ["Qa", "Qb", "Qc"], "teacher_answer": ["ta", "tb", None],
         "n_clusters": [1, 2, 0], "uncertainty": [None, "unsure about units", None]}
    )
    gen = scripted(lambda p, i: "improved\n#### 9")
    out, _, counts = student.synthesize(questions, "number", own, [teacher], gen, Sampling(), PROMPTS)
    assert counts == {"synthesis": 1, "teacher_single_cluster": 1, "no_teacher_answer": 1}
    assert out.set_index("id")["label"].to_dict() == {"a": "ta", "b": "improved\n#### 9"}
    prompt = gen.calls[0][0][0]
    assert "mine b" in prompt and "tb" in prompt and "unsure about units" in prompt and "####" in prompt
    _, _, _ = student.synthesize(questions, "number", own, [teacher], gen, Sampling(), PROMPTS, use_uncertainty=False)
    assert "unsure about units" not in gen.calls[-1][0][0]


def test_several_teachers_share_one_synthesis_prompt(scripted):
    questions = pd.DataFrame({"id": ["a", "b"], "question": ["Qa", "Qb"]})
    own = pd.DataFrame({"id": ["a", "b"], "response": ["mine a", "mine b"]})
    first = pd.DataFrame({"id": ["a", "b"], "question": ["Qa", "Qb"], "teacher_answer": ["first a", "first b"],
                          "n_clusters": [1, 2], "uncertainty": [None, "first unsure"]})
    second = pd.DataFrame({"id": ["a", "b"], "question": ["Qa", "Qb"], "teacher_answer": ["second a", None],
                           "n_clusters": [2, 0], "uncertainty": ["second unsure", None]})
    gen = scripted(lambda p, i: "merged\n#### 1")
    out, _, counts = student.synthesize(questions, "number", own, [first, second], gen, Sampling(), PROMPTS)
    # with two teachers a single-cluster answer is not taken as is: the student merges
    assert counts == {"synthesis": 2, "teacher_single_cluster": 0, "no_teacher_answer": 0}
    prompt_a, prompt_b = gen.calls[0][0]
    assert "first a" in prompt_a and "second a" in prompt_a and "second unsure" in prompt_a
    assert "first b" in prompt_b and "first unsure" in prompt_b and "second" not in prompt_b
    assert out["label"].tolist() == ["merged\n#### 1"] * 2


def test_teacher_table_without_uncertainty_comes_from_clusters_alone():
    questions = pd.DataFrame({"id": ["one", "two", "none"], "question": ["Q1", "Q2", "Q3"]})
    clusters = pd.DataFrame(
        [["one", 0, "r1", True], ["two", 0, "a", True], ["two", 1, "b", False]],
        columns=["id", "cluster_idx", "representative", "is_final"],
    )
    table = summarize.teacher_table(questions, clusters).set_index("id")
    assert table["teacher_answer"].to_dict() == {"one": "r1", "two": "a", "none": None}
    assert table["n_clusters"].tolist() == [1, 2, 0] and table["uncertainty"].isna().all()


def test_gold_sets_use_human_cot_only_where_it_exists(math_rows):
    assert labels.gold_set(math_rows, get_spec("gsm8k"))["label"].iloc[0].startswith("2 + 3 = 5.")
    assert labels.qa_set(math_rows, get_spec("gsm8k"))["label"].tolist() == ["#### 5", "#### 20"]


def test_evaluation_counts_every_item(scripted, math_rows):
    gen = scripted(lambda p, i: "#### 5" if "2 + 3" in p else "no answer")
    items, _ = evaluate.evaluate(math_rows, get_spec("gsm8k"), gen, Sampling(), PROMPTS)
    summary = evaluate.summarize(items)
    assert summary["n"] == 2 and summary["accuracy"] == 0.5 and summary["unparsed_rate"] == 0.5
    assert summary["accuracy_stderr"] == pytest.approx(0.5 / np.sqrt(2))
