"""The second fidelity pass against the authors' reference scripts (issue 19): each
test pins one place where this workflow now does what the reference does, or a
setting that lets it. SFT truncation is in test_fidelity_sft.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from alice_w2s.answers import extract
from alice_w2s.backends.generation import Sampling, request_seed
from alice_w2s.backends.served import chat_seed
from alice_w2s.backends.sharded import ShardedGenerator
from alice_w2s.effective_batch import accumulation_steps
from alice_w2s.prompts import Prompts
from alice_w2s.schema_defaults import section_defaults
from alice_w2s.stages import cluster, labels, sample, student, summarize

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = Prompts(ROOT / "resources" / "prompts")
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())


# 1. SFT batch: the reference as launched trains 1 x 64 x 4 = 256 examples per step.
def test_paper_grid_trains_with_the_launched_reference_batch():
    sft = PAPER["sft"]
    assert sft["effective_batch_size"] == 256
    # each job's accumulation keeps 256: 7B/8B on 4 GPUs, 3B on 2, 1B/1.5B on 1
    assert [accumulation_steps(256, sft["per_device_batch_size"], gpus) for gpus in (4, 2, 1)] == [16, 32, 64]


# 2. The Q-A teacher's questions.
def test_teacher_qa_on_cot_survivors_keeps_only_the_rows_whose_cot_was_right():
    half = pd.DataFrame({"id": ["a", "b", "c"], "question": ["Qa", "Qb", "Qc"]})
    cot = pd.DataFrame({"id": ["a", "b", "c"], "correct": [True, False, True]})
    assert labels.teacher_qa_rows(half, "cot_survivors", cot)["id"].tolist() == ["a", "c"]
    assert labels.teacher_qa_rows(half, "teacher_half")["id"].tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="needs the CoT filter's output"):
        labels.teacher_qa_rows(half, "cot_survivors")
    assert PAPER["stages"]["teacher_qa"]["questions"] == "cot_survivors"
    assert section_defaults("stages", "teacher_qa")["questions"] == "teacher_half"


# 3. The uncertainty prompt: per answer type, one worked example, clusters in the
# order they were found, one line apart.
@pytest.mark.parametrize("answer_type", ["number", "choice", "text"])
def test_summary_prompt_has_an_example_and_lists_clusters_in_discovery_order(scripted, answer_type):
    questions = pd.DataFrame({"id": ["q"], "question": ["How many?"]})
    columns = ["id", "cluster_idx", "size", "representative", "representative_idx", "answer", "is_final", "n_samples"]
    # ranked by size, the largest cluster was found last (its first response is sample 7)
    clusters = pd.DataFrame(
        [["q", 0, 5, "late big", 7, "1", True, 10], ["q", 1, 3, "early small", 0, "2", False, 10]], columns=columns
    )
    gen = scripted(lambda p, i: "I am unsure.")
    summarize.summarize_uncertainty(questions, answer_type, clusters, gen, Sampling(temperature=0.9), PROMPTS)
    prompt = gen.calls[0][0][0]
    assert "1. early small\n2. late big\n" in prompt
    assert "Example." in prompt and prompt.rstrip().endswith("Statement:")
    assert "some of them are right and some are wrong" in prompt
    assert prompt.index("Example.") < prompt.index("How many?")  # the case comes after the example


def test_a_capped_summary_prompt_keeps_the_largest_clusters_in_discovery_order(scripted):
    questions = pd.DataFrame({"id": ["q"], "question": ["Q?"]})
    columns = ["id", "cluster_idx", "size", "representative", "representative_idx", "answer", "is_final", "n_samples"]
    clusters = pd.DataFrame(
        [["q", 0, 5, "big late", 9, "1", True, 12], ["q", 1, 4, "mid early", 2, "2", False, 12],
         ["q", 2, 2, "small first", 0, "3", False, 12]],
        columns=columns,
    )
    gen = scripted(lambda p, i: "I am unsure.")
    summarize.summarize_uncertainty(
        questions, "number", clusters, gen, Sampling(temperature=0.9), PROMPTS, max_representatives=2
    )
    prompt = gen.calls[0][0][0]
    assert "1. mid early\n2. big late\n" in prompt and "small first" not in prompt


def test_summary_prompts_differ_for_math_and_for_facts():
    assert "math word problem" in PROMPTS.text("summarize/number.txt")
    assert "math" not in PROMPTS.text("summarize/text.txt")


# 4. Clustering numbers and choices by the reference's raw marker text.
def test_marker_text_clustering_keeps_spellings_apart_that_extraction_merges():
    responses = ["x So the correct choice is A.", "y So the correct choice is A. dry palms.",
                 "z So the correct choice is A.", "w So the correct choice is A. dry palms."]
    samples = pd.DataFrame({"id": ["q"] * 4, "sample_idx": range(4), "response": responses,
                            "extracted": [extract("choice", r) for r in responses]})
    questions = pd.DataFrame({"id": ["q"], "question": ["Q"]})
    merged = cluster.cluster_samples(samples, questions, "choice")
    apart = cluster.cluster_samples(samples, questions, "choice", answer_key="marker_text")
    assert merged["size"].tolist() == [4]
    assert apart["size"].tolist() == [2, 2] and apart["representative_idx"].tolist() == [0, 1]
    assert PAPER["stages"]["cluster"]["answer_key"] == "marker_text"


def test_marker_text_is_the_text_between_the_first_and_a_second_marker():
    from alice_w2s.answers import NUMBER

    assert NUMBER.marker_text("work\n#### 12\nthen #### 13") == "12\nthen"
    assert NUMBER.marker_text("no marker, 12") is None


# 5. No "reason briefly" in the user turn (the ARC CoT prompt asks for full reasoning).
def test_question_turns_of_choice_and_qa_do_not_ask_for_brief_reasoning():
    for answer_type in ("choice", "text"):
        turn = PROMPTS.question(answer_type, "Q?")
        cot = PROMPTS.render(f"cot/{answer_type}.txt", question_prompt=turn)
        assert "briefly" not in cot.lower()
    assert "explain your reasoning in full" in PROMPTS.render(
        "cot/choice.txt", question_prompt=PROMPTS.question("choice", "Q?")
    )
    assert "So the correct choice is <letter>." in PROMPTS.question("choice", "Q?")


# 6. The synthesis prompt: an example response (numbers, choices) and no explaining.
def test_synthesis_prompt_shows_an_example_and_forbids_explaining_the_choice(scripted):
    questions = pd.DataFrame({"id": ["a"], "question": ["Qa"]})
    own = pd.DataFrame({"id": ["a"], "response": ["mine"]})
    teacher = pd.DataFrame({"id": ["a"], "question": ["Qa"], "teacher_answer": ["theirs"], "n_clusters": [2],
                            "uncertainty": ["u"]})
    prompts = {}
    for answer_type in ("number", "choice", "text"):
        gen = scripted(lambda p, i: "#### 1")
        student.synthesize(questions, answer_type, own, [teacher], gen, Sampling(), PROMPTS)
        prompts[answer_type] = gen.calls[0][0][0]
    assert "#### 24" in prompts["number"] and "So the correct choice is B." in prompts["choice"]
    assert "A response in the expected form" not in prompts["text"]  # the reference's QA prompt had none
    assert all("do not explain why you kept or changed your answer" in p for p in prompts.values())


# 7. Rows with the same question draw independently.
def test_equal_prompts_of_different_rows_get_different_seeds():
    assert request_seed(0, "same prompt", "row-1") != request_seed(0, "same prompt", "row-2")
    assert request_seed(0, "same prompt") == request_seed(0, "same prompt")  # reproducible
    chat = [{"role": "user", "content": "same prompt"}]
    assert chat_seed(0, chat, "row-1") != chat_seed(0, chat, "row-2")


def test_stages_name_each_request_by_its_row(scripted, math_rows, tmp_path):
    spec_rows = math_rows.assign(question="the same question")  # TriviaQA repeats questions
    from alice_w2s.datasets.registry import get_spec

    gen = scripted(lambda p, i: "#### 1")
    sample.sample_responses(spec_rows, get_spec("toy_math"), gen, Sampling(temperature=0.9, n=2), PROMPTS)
    assert gen.keys[-1] == list(spec_rows["id"])
    # the resumable layer hands each shard its rows' keys and tells shards of other keys apart
    sharded = ShardedGenerator(lambda: gen, tmp_path / "shards", {"test": 1}, shard_size=2)
    sharded.generate([[{"role": "user", "content": "x"}]] * 3, Sampling(temperature=0.9), keys=["a", "b", "c"])
    assert gen.keys[-2:] == [["a", "b"], ["c"]]
    names = {p.name for p in (tmp_path / "shards").iterdir()}
    sharded.generate([[{"role": "user", "content": "x"}]] * 3, Sampling(temperature=0.9), keys=["a", "b", "d"])
    assert gen.keys[-1] == ["d"]
    assert len({p.name for p in (tmp_path / "shards").iterdir()} - names) == 1  # only the changed shard


# 10. Residue: the schema samples zero-shot and synthesis as the reference; more
# ways of naming a choice are read (flexibly; the strict reading is unchanged).
def test_zero_shot_and_synthesis_sample_by_default():
    for stage in ("zeroshot", "synthesize"):
        defaults = section_defaults("stages", stage)
        assert (defaults["temperature"], defaults["top_p"]) == (0.9, 0.95)


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("Heat flows faster through metal.\n\n**B**", "B"),
        ("Metal conducts heat.\nOption D", "D"),
        ("So the correct option is D.", "D"),
        ("Having weighed them all, I choose D.", "D"),
        ("I would go with option (C).", "C"),
    ],
)
def test_more_choice_commitments_are_read(response, letter):
    assert extract("choice", response) == letter
    assert extract("choice", response, strict=True) is None


@pytest.mark.parametrize("response", ["I choose a different approach.", "A. dogs\nB. cats\nC. birds", "**A**. x\n**B**. y"])
def test_listed_options_and_articles_are_not_answers(response):
    assert extract("choice", response) is None
