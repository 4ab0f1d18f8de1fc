"""A second PGR ceiling: Strong fine-tuned on the weak teacher's Q-CoT-A set
(`w~s@cot-ceiling`), shown as an optional row and named wherever PGR is."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from snakemake_runner import ROOT, planned_jobs, snakemake

from alice_w2s import plan, tables
from alice_w2s.config import ConfigError, load_schema, validate
from alice_w2s.job_paths import JobPaths


def test_the_cot_ceiling_is_a_pair_that_learns_the_weak_teacher_s_cot_set():
    key = plan.parse_key("w~s@cot-ceiling")
    assert key.name == "s" and key.first_teachers == ("w",) and not key.is_student and not key.is_base
    assert plan.sft_role(key.method) == "baseline"
    assert plan.training_set("d", key) == plan.training_set("d", "w@teacher-cot") == "labels/d/teacher_cot/w.parquet"
    assert plan.training_set("d", "w~s@cot-ceiling.s2") == "labels/d/teacher_cot/w.s2.parquet"
    for bad in ("s@cot-ceiling", "a~b~c@cot-ceiling", "a+b~c@cot-ceiling", "a~b@cot-ceiling.c2"):
        with pytest.raises(ValueError, match="takes a pair"):
            plan.parse_key(bad)


def test_a_block_s_first_ceiling_is_every_row_s_pgr_ceiling():
    default = plan.table_cells({"datasets": ["d"], "blocks": [{"name": "b", "chain": ["w", "s"]}]})
    assert [c["row"] for c in default] == ["Weak", "Original W2SG (Q-A)", "Original W2SG (Q-CoT-A)", "Alice", "Strong"]
    assert {c["strong"] for c in default} == {"s@gold", None}
    both = plan.table_cells({"datasets": ["d"], "blocks": [{"name": "b", "chain": ["w", "m", "s"], "ceilings": ["cot", "gold"]}]})
    assert [(c["row"], c["model"]) for c in both][-2:] == [("Strong (Q-CoT-A)", "w~s@cot-ceiling"), ("Strong", "s@gold")]
    measured = [c for c in both if c["weak"] is not None]
    assert [c["row"] for c in measured] == ["Original W2SG (Q-A)", "Original W2SG (Q-CoT-A)", "Alice"]
    assert {c["strong"] for c in measured} == {"w~s@cot-ceiling"}


def test_a_ceiling_outside_the_list_stops_the_plan_with_one_line():
    config = {
        "summarizer": "w", "models": {m: {"source": "hub", "path": m} for m in ("w", "s")},
        "datasets": {"d": {"kind": "triviaqa", "source": "hub"}},
        "tables": {"table1": {"datasets": ["d"], "blocks": [{"name": "b", "chain": ["w", "s"], "ceilings": ["gold", "oracle"]}]}},
    }
    with pytest.raises(ConfigError, match=r"config key tables.table1.blocks.0.ceilings.1: 'oracle' is not one of"):
        validate(config, load_schema())
    config["tables"]["table1"]["blocks"][0]["ceilings"] = ["cot"]
    paths = JobPaths(validate(config, load_schema()))
    assert paths.training_set("d", "w~s@cot-ceiling") == paths.training_set("d", "w@teacher-cot")


def test_the_table_names_its_ceiling(tmp_path):
    table = {"datasets": ["math"], "blocks": [{"name": "w -> s", "chain": ["w", "s"], "ceilings": ["cot", "gold"]}]}
    cells = plan.table_cells(table)
    rng = np.random.default_rng(0)
    rates = {"w@gold": 0.2, "s@gold": 0.9, "w~s@cot-ceiling": 0.6, "w~s@w2s-qa": 0.3, "w~s@w2s-cot": 0.4, "w~s@alice": 0.5}
    for key, rate in rates.items():
        correct = (rng.random(300) < rate).tolist()
        pd.DataFrame({"id": [f"q{i}" for i in range(300)], "correct": correct}).to_parquet(tmp_path / f"{key}.parquet")
        summary = {"n": 300, "accuracy": float(np.mean(correct)), "accuracy_stderr": 0.02, "unparsed_rate": 0.0}
        (tmp_path / f"{key}.json").write_text(json.dumps(summary))
    frame = tables.collect(cells, plan.single_run(cells), lambda d, m: str(tmp_path / f"{m}.json"),
                           lambda d, m: str(tmp_path / f"{m}.parquet"), {"bootstrap_iterations": 200, "confidence": 0.95, "seed": 0})
    alice = frame[frame["row"] == "Alice"].iloc[0]
    accuracy = frame.set_index("model")["accuracy"]
    assert alice.strong == "w~s@cot-ceiling"
    assert alice.pgr == pytest.approx((accuracy["w~s@alice"] - accuracy["w@gold"]) / (accuracy["w~s@cot-ceiling"] - accuracy["w@gold"]))
    assert frame[frame["row"].str.startswith("Strong")]["pgr"].isna().all()
    text = tables.to_markdown(frame, "T", set(), 0.95)
    assert "PGR's ceiling (Strong): w~s@cot-ceiling, fine-tuned on the weak teacher's Q-CoT-A set" in text


def test_the_cot_ceiling_trains_on_the_weak_teacher_s_cot_labels_in_the_dag(tmp_path):
    overlay = tmp_path / "ceilings.yaml"
    overlay.write_text(
        "tables:\n  table_demo:\n    datasets: [toy_trivia]\n    blocks:\n"
        "      - {name: pair, chain: [tiny-qwen-s, tiny-qwen-m], ceilings: [gold, cot]}\n"
    )
    result = snakemake(tmp_path, "-n", "--forceall", "table_demo", "--configfile", str(ROOT / "config" / "toy.yaml"), str(overlay))
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result.stdout)
    [ceiling] = [j for j in jobs if j["rule"] == "sft" and j["output"][0].endswith("@cot-ceiling")]
    assert sorted(ceiling["input"]) == ["results/base_models/tiny-qwen-m", "results/labels/toy_trivia/teacher_cot/tiny-qwen-s.parquet"]
    assert any(j["rule"] == "label_quality" and j["output"][0].endswith("tiny-qwen-s~tiny-qwen-m@cot-ceiling.json") for j in jobs)
    # the weak teacher's CoT set is made once, for the teacher and the ceiling
    assert sum(j["rule"] == "labels_teacher_cot" for j in jobs) == 1
