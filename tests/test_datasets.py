import pandas as pd
import pytest

from alice_w2s.datasets import toy
from alice_w2s.datasets.prepare import normalise, prepare, split_train
from alice_w2s.datasets.registry import REGISTRY, get_spec


def test_toy_data_is_deterministic_and_seeded():
    for kind in ("toy_math", "toy_choice", "toy_trivia"):
        assert toy.generate(kind, 10, 3) == toy.generate(kind, 10, 3)
        assert toy.generate(kind, 10, 3) != toy.generate(kind, 10, 4)


def test_toy_records_have_the_hub_shapes():
    math = toy.generate("toy_math", 1, 0)[0]
    assert set(math) == {"question", "answer"} and "####" in math["answer"]
    arc = toy.generate("toy_choice", 1, 0)[0]
    assert set(arc) == {"id", "question", "choices", "answerKey"} and arc["answerKey"] in arc["choices"]["label"]
    trivia = toy.generate("toy_trivia", 1, 0)[0]
    assert {"value", "aliases", "normalized_aliases"} <= set(trivia["answer"])


def test_normalised_rows_score_their_own_gold():
    for kind in ("toy_math", "toy_choice", "toy_trivia"):
        spec = get_spec(kind)
        frame = normalise(spec, toy.generate(kind, 20, 1), kind)
        for row in frame.to_dict("records"):
            assert spec.score(spec.qa_label(row), row).correct, row
            if spec.has_human_cot:
                assert spec.score(spec.cot_label(row), row).correct


def test_arc_numeric_labels_become_letters():
    record = {"id": "x", "question": "Pick", "choices": {"text": ["a", "b", "c"], "label": ["1", "2", "3"]}, "answerKey": "3"}
    row = get_spec("arc_challenge").normalize(record, 0)
    assert row["answer"] == "C" and row["question"].endswith("C. c")


def test_gsm8k_record_without_final_line_names_the_record():
    with pytest.raises(ValueError, match="record 7"):
        get_spec("gsm8k").normalize({"question": "q", "answer": "no final line"}, 7)


def test_missing_field_names_the_dataset_and_record():
    with pytest.raises(ValueError, match=r"record 0 lacks the triviaqa field"):
        normalise(get_spec("triviaqa"), [{"question": "q"}], "local file")


def test_split_protocol_is_positional():
    train = pd.DataFrame({"id": [str(i) for i in range(10)]})
    teacher, transfer = split_train(train, {"transfer_fraction": 1.0})
    assert teacher["id"].tolist() == list("01234") and transfer["id"].tolist() == list("56789")
    _, cut = split_train(train, {"transfer_fraction": 0.4})
    assert cut["id"].tolist() == ["5", "6"]
    _, capped = split_train(train, {"transfer_fraction": 1.0, "transfer_max_rows": 1})
    assert capped["id"].tolist() == ["5"]


def test_prepare_local_jsonl(tmp_path):
    records = toy.generate("toy_trivia", 12, 0)
    for name, part in (("train.jsonl", records[:8]), ("eval.jsonl", records[8:])):
        (tmp_path / name).write_text("\n".join(pd.Series(part).map(lambda r: pd.io.json.ujson_dumps(r))) + "\n")
    parts = prepare("tq", {"kind": "triviaqa", "source": "local", "files": {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "eval.jsonl")}})
    assert [len(parts[p]) for p in ("teacher", "transfer", "eval")] == [4, 4, 4]
    assert set(parts["eval"]["answer_type"]) == {"text"}


def test_every_registry_entry_has_a_known_answer_type():
    assert {spec.answer_type for spec in REGISTRY.values()} == {"number", "choice", "text"}


def _rc_records(n_questions: int) -> list[dict]:
    """TriviaQA `rc` shape: each question twice (web and Wikipedia evidence), one question_id."""
    records = []
    for i in range(n_questions):
        answer = {
            "value": f"St. Kalo {i}",
            "aliases": [f"St. Kalo {i}", f"Saint Kalo {i}"],
            "normalized_value": f"st kalo {i}",
            "normalized_aliases": [f"st kalo {i}", f"saint kalo {i}"],
        }
        for source in ("web", "wikipedia"):
            records.append({
                "question": f"Which saint is number {i}?",
                "question_id": f"tc_{i}",
                "question_source": "http://example.org",
                "entity_pages": {"doc_source": [source], "wiki_context": ["a long evidence text " * 50]},
                "search_results": {"search_context": ["more evidence " * 50]},
                "answer": answer,
            })
    return records


def test_triviaqa_rc_with_repeated_question_ids_keeps_every_row(tmp_path):
    files = {}
    for part, n in (("train", 8), ("eval", 3)):
        files[part] = str(tmp_path / f"{part}.parquet")
        pd.DataFrame(_rc_records(n)).to_parquet(files[part])
    cfg = {"kind": "triviaqa", "source": "local", "files": files}
    parts = prepare("tq", cfg)
    assert [len(parts[p]) for p in ("teacher", "transfer", "eval")] == [8, 8, 6]
    ids = pd.concat([parts["teacher"]["id"], parts["transfer"]["id"]])
    assert ids.is_unique and ids.iloc[0] == "tc_0#0" and ids.iloc[1] == "tc_0#1"
    deduped = prepare("tq", {**cfg, "dedupe_questions": True})
    assert [len(deduped[p]) for p in ("teacher", "transfer", "eval")] == [4, 4, 3]
    assert deduped["teacher"]["question"].is_unique


def test_local_parquet_loads_only_the_fields_the_normaliser_reads(tmp_path):
    from alice_w2s.datasets.prepare import load_records

    path = tmp_path / "train.parquet"
    pd.DataFrame(_rc_records(2)).to_parquet(path)
    records = load_records(get_spec("triviaqa"), {"source": "local", "files": {"train": str(path)}}, "train")
    # the evidence columns are never read into memory
    assert set(records[0]) == {"answer", "question", "question_id"}


def test_triviaqa_paper_metric_is_normalised_aliases_in_the_lower_cased_response():
    spec = get_spec("triviaqa")
    row = spec.normalize(_rc_records(1)[0], 0)
    assert row["aliases"] == ["st kalo 0", "saint kalo 0"]
    # "st. kalo 0" holds the raw value but no normalised alias: wrong by the paper's metric
    raw_only = spec.score("I believe it is St. Kalo 0.\nAnswer: St. Kalo 0", row)
    assert not raw_only.correct and raw_only.lenient_correct and raw_only.exact_match == 1.0
    assert spec.score("Answer: saint kalo 0", row).correct


def test_toy_kinds_are_the_registry_entries_with_a_generator():
    toys = [name for name, spec in REGISTRY.items() if spec.is_toy]
    assert toys == ["toy_math", "toy_choice", "toy_trivia", "toy_arithmetic", "toy_categories", "toy_facts"]
    for kind in toys:
        assert len(toy.generate(kind, 5, 2)) == 5
    with pytest.raises(ValueError, match="'gsm8k' is not a toy dataset"):
        toy.generate("gsm8k", 1, 0)
    # the tiny models' tokenizer corpus and warm-up draw from these, in this order
    assert [name for name, spec in REGISTRY.items() if spec.warmup_corpus] == ["toy_math", "toy_choice", "toy_trivia"]
