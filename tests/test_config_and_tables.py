import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alice_w2s import pgr, plan, tables
from alice_w2s.config import ConfigError, load_yaml, validate
from alice_w2s.stages import evaluate

ROOT = Path(__file__).resolve().parents[1]


def default_config():
    return load_yaml(ROOT / "config" / "toy.yaml")


def test_shipped_configs_validate_and_get_defaults():
    for name in ("config.yaml", "toy.yaml", "paper.yaml"):
        config = validate(load_yaml(ROOT / "config" / name))
        assert config["stages"]["cluster"]["embedder"]
        assert config["prompts"]["directory"] == "resources/prompts"
    assert validate(load_yaml(ROOT / "config" / "paper.yaml"))["stages"]["sample"]["k"] == 100


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["stages"]["sample"].update(k=1), "stages.sample.k"),
        (lambda c: c["sft"].update(mode="qlora"), "sft.mode"),
        (lambda c: c["stages"]["cluster"].update(treshold=0.5), "stages.cluster"),
        (lambda c: c["tables"]["table1"]["blocks"][0]["chain"].append("nope"), "tables.table1.blocks.0.chain.2"),
        (lambda c: c["tables"]["table1"].update(datasets=["missing"]), "tables.table1.datasets.0"),
        (lambda c: c["tables"]["table2"]["blocks"][0]["rows"][0].update(model="a~ghost@alice"), "tables.table2.blocks.0.rows.0.model"),
        (lambda c: c["tables"]["table2"]["blocks"][0]["rows"][0].update(model="tiny-qwen-s@alice"), "tables.table2.blocks.0.rows.0.model"),
        (lambda c: c["tables"]["table2"]["blocks"][0].update(chain=["tiny-qwen-s", "tiny-qwen-m"]), "tables.table2.blocks.0"),
        (lambda c: c["tables"].update(results={"datasets": ["toy_math"], "blocks": []}), "tables"),
        (lambda c: c["tables"].update(table_report=c["tables"]["table3"]), "tables.table_report"),
        (lambda c: c["models"]["tiny-qwen-s"].update(hidden_size=96), "models.tiny-qwen-s.hidden_size"),
        (lambda c: c.update(summarizer="ghost"), "summarizer"),
    ],
)
def test_bad_values_name_their_key(edit, message):
    config = default_config()
    edit(config)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate(config)


def _write_eval(folder, dataset, model, correct):
    items = pd.DataFrame({"id": [f"q{i}" for i in range(len(correct))], "correct": correct})
    items.to_parquet(folder / f"{dataset}-{model}.parquet")
    scored = items.assign(parsed=True, exact_match=False, f1=0.0)
    summary = {**evaluate.accuracy_summary(scored), "unparsed_rate": 0.2, "exact_match": 0.1, "f1": 0.25}
    (folder / f"{dataset}-{model}.json").write_text(json.dumps(summary))


def test_table_markdown_csv_and_plot(tmp_path):
    table = {"datasets": ["math", "trivia"], "blocks": [{"name": "w -> s", "chain": ["w", "s"]}]}
    cells = plan.table_cells(table)
    rng = np.random.default_rng(0)
    rates = {"w@gold": 0.2, "s@gold": 0.8, "w~s@w2s-qa": 0.3, "w~s@w2s-cot": 0.5, "w~s@alice": 0.7}
    for dataset in table["datasets"]:
        for model, rate in rates.items():
            _write_eval(tmp_path, dataset, model, (rng.random(200) < rate).tolist())
    settings = {"bootstrap_iterations": 300, "confidence": 0.95, "seed": 0}
    frame = tables.collect(
        cells, plan.single_run(cells), lambda d, m: str(tmp_path / f"{d}-{m}.json"), lambda d, m: str(tmp_path / f"{d}-{m}.parquet"), settings
    )
    assert list(frame.columns) == tables.CSV_COLUMNS and len(frame) == 10
    alice = frame[(frame["row"] == "Alice") & (frame["dataset"] == "math")].iloc[0]
    assert alice.pgr_low < alice.pgr < alice.pgr_high and 0.5 < alice.pgr < 1.0
    assert frame[frame["row"] == "Weak"]["pgr"].isna().all()
    text = tables.to_markdown(frame, "Table 1", {"trivia"}, 0.95)
    assert "| Weak | w | " in text and "% unparsed) |" in text
    assert "PGR [95% interval] against Weak / Strong" in text and f"| Alice | w@gold / s@gold | {alice.pgr:.2f} [" in text
    assert "exact match / token F1" in text and "10.00 / 25.00" in text
    tables.plot(frame, tmp_path / "t.png", "Table 1")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_paired_bootstrap_refuses_pgr_when_the_gap_is_noise():
    rng = np.random.default_rng(1)
    same = (rng.random((3, 50)) < 0.5).astype(float)
    result = pgr.paired_bootstrap(same, iterations=500, seed=0)
    assert result["gap_low"] <= 0 <= result["gap_high"]
    assert result["pgr"] is None and "noise" in result["pgr_note"]


def test_no_pgr_when_strong_is_below_weak():
    student, weak, strong = np.r_[np.ones(10), np.zeros(90)], np.ones(100), np.zeros(100)
    result = pgr.paired_bootstrap(np.stack([student, weak, strong]), iterations=200, seed=0)
    assert result["gap_high"] < 0 and result["pgr"] is None and result["pgr_note"] == "Strong below Weak"


def test_paired_bootstrap_is_seeded_and_paired():
    weak = np.zeros(100)
    strong = np.ones(100)
    student = np.r_[np.ones(60), np.zeros(40)]
    correct = np.stack([student, weak, strong])
    first = pgr.paired_bootstrap(correct, iterations=400, seed=3)
    assert first == pgr.paired_bootstrap(correct, iterations=400, seed=3)
    # the gap is exactly 1 in every draw, so PGR's interval is the student's own
    assert first["gap_low"] == first["gap_high"] == 1.0
    assert first["pgr"] == pytest.approx(0.6) and 0.45 < first["pgr_low"] < 0.6 < first["pgr_high"] < 0.75


def test_pgr_needs_the_same_items():
    a = pd.DataFrame({"id": ["q1", "q2"], "correct": [True, False]})
    b = pd.DataFrame({"id": ["q1", "q3"], "correct": [True, False]})
    with pytest.raises(ValueError, match="same items"):
        pgr.align(a, a, b)


def test_label_quality_scores_labels_against_the_gold_of_their_rows():
    from alice_w2s.datasets.registry import get_spec
    from alice_w2s.stages.label_quality import label_quality

    gold = pd.DataFrame({"id": ["a", "b", "c", "d"], "question": ["1+1?", "2+2?", "3+3?", "4+4?"],
                         "answer": ["2", "4", "6", "8"], "aliases": [[]] * 4, "solution": [None] * 4,
                         "answer_type": ["number"] * 4})
    labels = pd.DataFrame({"id": ["a", "b", "c", "d"], "question": ["1+1?", "2+2?", "3+3?", "4+4?"],
                           "label": ["1 + 1 = 2.\n#### 2", "#### 5", "no number here", "  "],
                           "source": ["synthesis", "teacher_single_cluster", "synthesis", "synthesis"]})
    quality = label_quality(labels, gold, get_spec("toy_arithmetic"))
    # the blank label is not trained on; of the three, one right, one unparsable
    assert quality["labels"] == 3 and quality["rows"] == 4
    assert quality["label_accuracy"] == pytest.approx(1 / 3) and quality["unparsed_rate"] == pytest.approx(1 / 3)
    assert quality["sources"] == {"synthesis": 2, "teacher_single_cluster": 1}
    empty = label_quality(labels.iloc[:0], gold, get_spec("toy_arithmetic"))
    assert empty["labels"] == 0 and empty["label_accuracy"] is None
    with pytest.raises(ValueError, match="not in the gold rows, e.g. 'zz'"):
        label_quality(labels.assign(id=["a", "b", "c", "zz"]), gold, get_spec("toy_arithmetic"))


def test_alice_s_synthesized_labels_against_the_teacher_s_final_answer():
    """The 2x2 of teacher right/wrong x synthesized label right/wrong, on the rows
    the student synthesized (single-cluster rows are the teacher's answer itself)."""
    from alice_w2s.datasets.registry import get_spec
    from alice_w2s.stages.label_quality import final_answers, label_quality

    ids = ["a", "b", "c", "d", "e", "f"]
    gold = pd.DataFrame({"id": ids, "question": [f"{i}?" for i in ids], "answer": ["1", "2", "3", "4", "5", "6"],
                         "aliases": [[]] * 6, "solution": [None] * 6, "answer_type": ["number"] * 6})
    # the teacher's clusters: the final one's representative is its answer
    clusters = pd.DataFrame({
        "id": ["a", "a", "b", "c", "d", "e"],
        "cluster_idx": [0, 1, 0, 0, 0, 0],
        "representative": ["#### 1", "#### 9", "#### 2", "#### 0", "#### 0", "#### 5"],
        "is_final": [True, False, True, True, True, True],
    })
    labels = pd.DataFrame({
        "id": ids,
        "question": [f"{i}?" for i in ids],
        # a: teacher right, label right; b: right -> wrong (broke); c: wrong -> right (fixed);
        # d: wrong, wrong; e: the teacher's single cluster (not synthesized); f: no teacher answer
        "label": ["#### 1", "#### 7", "#### 3", "#### 8", "#### 5", "#### 6"],
        "source": ["synthesis"] * 4 + ["teacher_single_cluster", "synthesis"],
    })
    finals = final_answers(clusters)
    assert finals.set_index("id")["teacher_answer"].to_dict() == {"a": "#### 1", "b": "#### 2", "c": "#### 0", "d": "#### 0", "e": "#### 5"}
    quality = label_quality(labels, gold, get_spec("toy_arithmetic"), [finals])
    # f's label is right and it had no teacher answer: counted as a wrong teacher, fixed
    assert (quality["synthesis_both_right"], quality["synthesis_broke"], quality["synthesis_fixed"],
            quality["synthesis_both_wrong"]) == (1, 1, 2, 1)
    # with a second teacher right on d, d's row counts the teacher as right
    second = pd.DataFrame({"id": ["d"], "teacher_answer": ["#### 4"]})
    both = label_quality(labels, gold, get_spec("toy_arithmetic"), [finals, second])
    assert (both["synthesis_broke"], both["synthesis_both_wrong"]) == (2, 0)
    # a W2SG student's set has no such table
    assert "synthesis_fixed" not in label_quality(labels, gold, get_spec("toy_arithmetic"))


def test_the_table_says_what_each_model_was_trained_on(tmp_path):
    table = {"datasets": ["math"], "blocks": [{"name": "w -> s", "chain": ["w", "s"]}]}
    cells = plan.table_cells(table)
    rng = np.random.default_rng(0)
    for model, rate in {"w@gold": 0.2, "s@gold": 0.8, "w~s@w2s-qa": 0.3, "w~s@w2s-cot": 0.5, "w~s@alice": 0.7}.items():
        _write_eval(tmp_path, "math", model, (rng.random(200) < rate).tolist())
        labels = 0 if model == "w~s@alice" else 60
        quality = {"labels": labels, "label_accuracy": None if labels == 0 else 0.5, "unparsed_rate": None if labels == 0 else 0.1,
                   "sources": {} if labels == 0 else {"teacher": 60}}
        (tmp_path / f"q-{model}.json").write_text(json.dumps(quality))
    settings = {"bootstrap_iterations": 200, "confidence": 0.95, "seed": 0}
    frame = tables.collect(cells, plan.single_run(cells), lambda d, m: str(tmp_path / f"{d}-{m}.json"), lambda d, m: str(tmp_path / f"{d}-{m}.parquet"),
                           settings, lambda d, m: str(tmp_path / f"q-{m}.json"))
    qa = frame[frame["row"] == "Original W2SG (Q-A)"].iloc[0]
    assert qa.train_labels == 60 and qa.label_accuracy == 0.5
    text = tables.to_markdown(frame, "T", set(), 0.95)
    assert "| Original W2SG (Q-A) | w -> s | 60 labels, 50.00% right (10.00% unparsed) |" in text
    # a student with no label is the base model copied through: its PGR says so
    assert "0 labels (the base model, untrained)" in text and "(trained on 0 labels: the untrained base model)" in text

    # Alice's synthesized labels against its teacher's answers, in the CSV and the text
    (tmp_path / "q-w~s@alice.json").write_text(json.dumps({
        "labels": 10, "label_accuracy": 0.4, "unparsed_rate": 0.0, "sources": {"synthesis": 6, "teacher_single_cluster": 4},
        "synthesis_fixed": 2, "synthesis_broke": 1, "synthesis_both_right": 1, "synthesis_both_wrong": 2}))
    frame = tables.collect(cells, plan.single_run(cells), lambda d, m: str(tmp_path / f"{d}-{m}.json"), lambda d, m: str(tmp_path / f"{d}-{m}.parquet"),
                           settings, lambda d, m: str(tmp_path / f"q-{m}.json"))
    alice = frame[frame["row"] == "Alice"].iloc[0]
    assert (alice.synthesis_fixed, alice.synthesis_broke) == (2, 1) and pd.isna(qa.get("synthesis_fixed"))
    assert ("of 6 synthesized against the teacher's answer: 2 fixed a wrong one, 1 broke a right one, "
            "1 both right, 2 both wrong") in tables.to_markdown(frame, "T", set(), 0.95)
