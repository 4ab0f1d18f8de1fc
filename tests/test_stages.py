"""Each stage's own logic, with a scripted stand-in model (see conftest.py)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alice_w2s.backends.generation import Sampling
from alice_w2s.datasets.registry import get_spec
from alice_w2s.prompts import Prompts
from alice_w2s.stages import cluster, cot, evaluate, labels, sample, student, summarize

PROMPTS = Prompts(Path(__file__).resolve().parents[1] / "resources" / "prompts")


def test_rejection_sampling_keeps_the_first_correct_try(scripted, math_rows):
    spec = get_spec("gsm8k")
    # m1: tries 0,1 wrong, try 2 right; m2: never right.
    gen = scripted(lambda p, i: "#### 5" if ("2 + 3" in p and i == 2) else "#### 0")
    rows, _ = cot.rejection_sample(math_rows, spec, gen, Sampling(temperature=0.7, n=4), PROMPTS)
    assert rows["correct"].tolist() == [True, False]
    assert rows["tries_used"].tolist() == [3, 4]
    assert "step" in gen.calls[0][0][0]  # the CoT instruction is in the prompt
    assert gen.calls[0][1].n == 4  # all tries in one request per question
    assert len(labels.teacher_cot_set(rows)) == 1


def test_cot_prompt_limits_length_for_qa_only(scripted):
    """The reference asks QA sets for 1-3 sentences of reasoning and ARC for full
    step-by-step reasoning; our CoT prompt follows the answer type."""
    asked = {}
    for kind, answer in (("toy_trivia", "Paris"), ("toy_choice", "B")):
        rows = pd.DataFrame({"id": ["x"], "question": ["Q?"], "answer": [answer], "aliases": [[]]})
        gen = scripted(lambda p, i: "no")
        cot.rejection_sample(rows, get_spec(kind), gen, Sampling(temperature=0.7), PROMPTS)
        asked[kind] = gen.calls[0][0][0]
    assert "one to three sentences" in asked["toy_trivia"]
    assert "one to three sentences" not in asked["toy_choice"] and "step by step" in asked["toy_choice"]


def test_qa_synthesis_forbids_not_knowing(scripted):
    questions = pd.DataFrame({"id": ["a"], "question": ["Qa"]})
    own = pd.DataFrame({"id": ["a"], "response": ["mine"]})
    teacher = pd.DataFrame({"id": ["a"], "question": ["Qa"], "teacher_answer": ["ta"], "n_clusters": [2], "uncertainty": ["u"]})
    prompts = {}
    for answer_type in ("text", "number"):
        gen = scripted(lambda p, i: "Answer: x\n#### 1")
        student.synthesize(questions, answer_type, own, [teacher], gen, Sampling(), PROMPTS)
        prompts[answer_type] = gen.calls[0][0][0]
    assert "never reply that you do not know" in prompts["text"]
    assert "do not know" not in prompts["number"]


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


def test_empty_responses_join_no_free_text_cluster():
    from alice_w2s.backends.embedding import Embedder

    texts = ["", " ", "", "The capital is Paris.", "Paris is the capital."]
    samples = pd.DataFrame({"id": ["q"] * 5, "sample_idx": range(5), "response": texts, "extracted": [None] * 3 + texts[3:]})
    out = cluster.cluster_samples(
        samples, pd.DataFrame({"id": ["q"], "question": ["Capital?"]}), "text", threshold=0.6, embedder=Embedder()
    )
    assert out["size"].tolist() == [2] and out["representative"].iloc[0] == texts[3]
    assert out["n_samples"].tolist() == [5]  # every sample is still counted


def _clusters(rows):
    return pd.DataFrame(rows, columns=["id", "cluster_idx", "size", "representative", "representative_idx", "answer", "is_final", "n_samples"])


def test_summarizer_runs_only_for_several_clusters(scripted):
    questions = pd.DataFrame({"id": ["one", "two", "none"], "question": ["Q1", "Q2", "Q3"]})
    clusters = _clusters(
        [["one", 0, 5, "r1", 0, "1", True, 6], ["two", 0, 3, "a", 0, "1", True, 6], ["two", 1, 2, "b", 1, "2", False, 6]]
    )
    gen = scripted(lambda p, i: "I am unsure whether to add or multiply.")
    out, _, _ = summarize.summarize_uncertainty(questions, "number", clusters, gen, Sampling(temperature=0.9), PROMPTS)
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
    assert counts == {"synthesis": 1, "teacher_single_cluster": 1, "no_teacher_answer": 1, "synthesis_unparsable": 0}
    assert out.set_index("id")["label"].to_dict() == {"a": "ta", "b": "improved\n#### 9"}
    prompt = gen.calls[0][0][0]
    assert "mine b" in prompt and "tb" in prompt and "unsure about units" in prompt and "####" in prompt
    _, _, _ = student.synthesize(questions, "number", own, [teacher], gen, Sampling(), PROMPTS, use_uncertainty=False)
    assert "unsure about units" not in gen.calls[-1][0][0]


def test_unparsable_synthesis_is_counted_and_dropped_unless_kept(scripted):
    questions = pd.DataFrame({"id": ["a", "b"], "question": ["Qa", "Qb"]})
    own = pd.DataFrame({"id": ["a", "b"], "response": ["mine a", "mine b"]})
    teacher = pd.DataFrame({"id": ["a", "b"], "question": ["Qa", "Qb"], "teacher_answer": ["ta", "tb"],
                            "n_clusters": [2, 2], "uncertainty": ["u", "u"]})
    gen = scripted(lambda p, i: "So the correct choice is **B**." if "mine a" in p else "I cannot decide.")
    out, _, counts = student.synthesize(questions, "choice", own, [teacher], gen, Sampling(), PROMPTS)
    assert out["id"].tolist() == ["a"] and counts["synthesis_unparsable"] == 1 and counts["synthesis"] == 1
    kept, _, counts = student.synthesize(questions, "choice", own, [teacher], gen, Sampling(), PROMPTS, keep_unparsable=True)
    assert kept["id"].tolist() == ["a", "b"] and counts["synthesis_unparsable"] == 1 and counts["synthesis"] == 2


def test_summarizer_prompt_limits_are_applied_and_counted(scripted):
    from alice_w2s.backends.generation import GenerationResult

    questions = pd.DataFrame({"id": ["q", "r"], "question": ["Q1", "Q2"]})
    long = "start " + "x" * 500 + " #### 7"
    rows = [["q", i, 5 - i, long if i == 0 else f"rep{i}", i, str(i), i == 0, 20] for i in range(4)]
    rows += [["r", 0, 3, "ra", 0, "1", True, 6], ["r", 1, 2, "rb", 1, "2", False, 6]]
    gen = scripted(lambda p, i: "I am unsure.")
    out, _, counts = summarize.summarize_uncertainty(
        questions, "number", _clusters(rows), gen, Sampling(temperature=0.9), PROMPTS,
        max_representatives=2, max_representative_chars=40,
    )
    prompt = gen.calls[0][0][0]
    # the two largest clusters only; the long one keeps its start and its final line
    assert "1. start" in prompt and "2. rep1" in prompt and "rep2" not in prompt and "rep3" not in prompt
    assert "1. start " + "x" * 14 + summarize.TRUNCATION_MARK + "x" * 13 + " #### 7\n" in prompt
    assert counts == {"representatives_dropped": 2, "representatives_truncated": 1, "summaries_skipped": 0}

    class Skipping(scripted):  # a backend that could not fit the first prompt
        def generate(self, chats, sampling, keys=None):
            result = super().generate(chats, sampling, keys)
            return GenerationResult([[""]] + result.texts[1:], 0, 0, 0.0, skipped_prompts=1)

    out, _, counts = summarize.summarize_uncertainty(
        questions, "number", _clusters(rows), Skipping(lambda p, i: "unsure"), Sampling(temperature=0.9), PROMPTS
    )
    assert counts["summaries_skipped"] == 1 and pd.isna(out.set_index("id").loc["q", "uncertainty"])
    assert out.set_index("id").loc["r", "uncertainty"] == "unsure"


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
    assert counts == {"synthesis": 2, "teacher_single_cluster": 0, "no_teacher_answer": 0, "synthesis_unparsable": 0}
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
    summary = evaluate.accuracy_summary(items)
    assert summary["n"] == 2 and summary["accuracy"] == 0.5 and summary["unparsed_rate"] == 0.5
    assert summary["accuracy_stderr"] == pytest.approx(0.5 / np.sqrt(2))


def test_evaluation_reports_strict_and_lenient_beside_the_paper_metric(scripted, math_rows):
    gen = scripted(lambda p, i: "#### **5**" if "2 + 3" in p else "#### 20")
    summary = evaluate.accuracy_summary(evaluate.evaluate(math_rows, get_spec("gsm8k"), gen, Sampling(), PROMPTS)[0])
    assert summary["accuracy"] == 1.0 and summary["strict_accuracy"] == 0.5 and summary["strict_unparsed_rate"] == 0.5
    trivia = pd.DataFrame({"id": ["t"], "question": ["Where?"], "answer": ["St. Louis"], "aliases": [["st louis"]],
                           "lenient_aliases": [["Saint Louis"]]})
    items = evaluate.score_responses(trivia, get_spec("triviaqa"), ["It is St. Louis.\nAnswer: St. Louis"])
    summary = evaluate.accuracy_summary(items)
    assert summary["accuracy"] == 0.0 and summary["lenient_accuracy"] == 1.0


def test_a_generating_stage_discards_its_shards_only_once_its_outputs_are_written(scripted, tmp_path, monkeypatch):
    """stage_generation.generate_then_write: the sequence every generating script runs."""
    from alice_w2s import stage_generation
    from alice_w2s.backends.sharded import ShardedGenerator, shard_dir_for

    output = tmp_path / "out.parquet"
    events: list[str] = []

    class Recorded(ShardedGenerator):
        def close(self):
            events.append("close")
            super().close()

        def discard(self):
            events.append("discard")
            super().discard()

    model = scripted(lambda prompt, i: "Answer: x")
    monkeypatch.setattr(
        stage_generation, "open_stage_generator",
        lambda params, out: Recorded(lambda: model, shard_dir_for(out), {"model": "scripted"}, shard_size=2),
    )
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
    sampling = Sampling(temperature=0.0, top_p=1.0, max_new_tokens=8, n=1, seed=0)

    def failing_write(result):
        events.append("write")
        raise OSError("disk full")

    with pytest.raises(OSError):
        stage_generation.generate_then_write(None, str(output), lambda g: g.generate(chats, sampling), failing_write)
    assert events == ["close", "write"] and shard_dir_for(output).exists()  # the shards survive for a rerun

    events.clear()
    calls_before = len(model.calls)
    result, shards = stage_generation.generate_then_write(
        None, str(output), lambda g: g.generate(chats, sampling), lambda r: events.append("write")
    )
    assert events == ["close", "write", "discard"] and not shard_dir_for(output).exists()
    assert shards == {"shards_reused": 3, "shards_total": 3} and len(model.calls) == calls_before
    assert [t[0] for t in result.texts] == ["Answer: x"] * 5
