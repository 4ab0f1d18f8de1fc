"""Seeds as an axis (config `seeds`): keys, which artifacts each seed shares, the
seeds-then-items bootstrap, the tables' means and per-seed rows, and a real
seeded job on the session's finished run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from snakemake_runner import planned_outputs, snakemake

from alice_w2s import paired, pgr, plan, tables
from alice_w2s.config import ConfigError, load_schema, validate
from alice_w2s.job_paths import JobPaths

BOOT = {"bootstrap_iterations": 400, "confidence": 0.95, "seed": 0}


# --- keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a.s1", "a@gold.s2", "a~b@alice.s1", "a~b~c@alice.s3", "a~b@alice.c2.s1", "a+b~c@alice.s4"])
def test_a_seed_suffix_round_trips_and_teachers_carry_it(key):
    parsed = plan.parse_key(key)
    assert str(parsed) == key and parsed.seed == int(key.rsplit(".s", 1)[1])
    assert str(plan.unseeded(parsed)) == key.rsplit(".s", 1)[0]
    if parsed.is_student:
        assert all(t.seed == parsed.seed for t in plan.teachers_of(parsed))
    if parsed.is_sliced:
        assert plan.direct_of(parsed).seed == parsed.seed


def test_the_run_seed_keeps_today_s_keys_and_others_get_a_suffix():
    assert plan.with_seed("a~b@alice", 0, 0) == "a~b@alice"
    assert plan.with_seed("a~b@alice", 2, 0) == "a~b@alice.s2"
    assert plan.with_seed("a~b@alice", 0, 7) == "a~b@alice.s0"  # seed 0 is not special: the config's seed is
    assert plan.parse_key("qwen-1.5b").seed is None  # dots in names are not seeds
    with pytest.raises(ValueError, match="already names a seed"):
        plan.with_seed("a@gold.s1", 2, 0)


def test_seeded_training_sets_and_zero_shot_follow_the_seed():
    assert plan.training_set("d", "a@teacher-cot.s1") == "labels/d/teacher_cot/a.s1.parquet"
    assert plan.training_set("d", "a~b@alice.s1") == "labels/d/synthesized/a~b@alice.s1.parquet"
    assert plan.training_set("d", "a~b@w2s-cot.s1") == "w2s_answers/d/a@teacher-cot.s1/all.parquet"


def _config(**overrides) -> dict:
    config = {
        "summarizer": "a",
        "models": {name: {"source": "hub", "path": f"org/{name}"} for name in ("a", "b")},
        "datasets": {"text": {"kind": "triviaqa", "source": "hub"}, "math": {"kind": "gsm8k", "source": "hub"}},
        "tables": {"table1": {"datasets": ["text", "math"], "blocks": [{"name": "a -> b", "chain": ["a", "b"]}]}},
    }
    return validate({**config, **overrides}, load_schema())


def test_labels_made_without_randomness_are_one_file_for_every_seed():
    paths = JobPaths(_config(seeds=[0, 1]))
    # gold, Q-A labels of the teacher half, GSM8K's human worked solutions: shared
    assert paths.training_set("text", "a@gold.s1") == paths.training_set("text", "a@gold")
    assert paths.training_set("text", "a@teacher-qa.s1") == paths.training_set("text", "a@teacher-qa")
    assert paths.training_set("math", "a@teacher-cot.s1") == paths.training_set("math", "a@teacher-cot")
    # a generated CoT filter's survivors, and everything a student learns from: per seed
    assert paths.training_set("text", "a@teacher-cot.s1").endswith("teacher_cot/a.s1.parquet")
    assert paths.training_set("text", "a~b@alice.s1").endswith("a~b@alice.s1.parquet")
    survivors = JobPaths(_config(seeds=[0, 1], stages={"teacher_qa": {"questions": "cot_survivors"}}))
    assert survivors.training_set("text", "a@teacher-qa.s1").endswith("teacher_qa/a.s1.parquet")
    assert survivors.teacher_qa_inputs("text", "a.s1")["cot"].endswith("cot/text/a.s1.parquet")
    assert survivors.training_set("math", "a@teacher-qa.s1") == survivors.training_set("math", "a@teacher-qa")
    # a seeded student's zero-shot answers are its base model's in that seed
    assert paths.synthesis_inputs("text", "a~b@alice.s1")["zeroshot"].endswith("zeroshot/text/b.s1/all.parquet")
    assert paths.model_files("text", "b.s1") == [] and paths.model_location("text", "b.s1")["path"] == "org/b"


def test_each_job_runs_with_its_key_s_seed():
    paths = JobPaths(_config(seed=5, seeds=[5, 6]))
    assert paths.run_seed("a~b@alice") == 5 and paths.run_seed("a~b@alice.s6") == 6 and paths.run_seed("b.s6") == 6


def test_greedy_base_evaluations_serve_every_seed_and_sampled_ones_do_not():
    greedy = JobPaths(_config(seeds=[0, 1]))
    assert greedy.key_in_seed("b", 1) == "b" and greedy.key_in_seed("b@gold", 1) == "b@gold.s1"
    sampled = JobPaths(_config(seeds=[0, 1], stages={"eval": {"temperature": 0.7}}))
    assert sampled.key_in_seed("b", 1) == "b.s1"


def test_a_table_reads_each_seed_s_evaluations_once():
    paths = JobPaths(_config(seeds=[0, 1, 2]))
    runs = paths.seed_runs("table1")
    assert [run["seed"] for run in runs] == [0, 1, 2]
    assert runs[0]["keys"]["a~b@alice"] == "a~b@alice" and runs[2]["keys"]["a~b@alice"] == "a~b@alice.s2"
    evaluations = paths.table_evaluations("table1")
    assert len(evaluations) == 3 * 2 * 5 == len(set(evaluations))
    inputs = paths.table_inputs("table1")
    assert len(inputs["summaries"]) == 30 and len(inputs["label_quality"]) == 30
    assert JobPaths(_config()).table_evaluations("table1") == plan.cell_models(plan.table_cells(_config()["tables"]["table1"]))


@pytest.mark.parametrize(
    ("seeds", "message"),
    [([], "config key seeds: [] should be non-empty"), ([0, 0], "config key seeds: [0, 0] has non-unique elements"),
     ([0, 1.5], "config key seeds.1: 1.5 is not of type 'integer'"), ([0, "x"], "config key seeds.1: 'x' is not of type")],
)
def test_bad_seeds_stop_the_plan_with_one_line_naming_the_key(seeds, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _config(seeds=seeds)


def test_seeds_from_the_command_line_and_the_default():
    assert _config(seeds=["0", "3"])["seeds"] == [0, 3]  # `--config seeds=[0,3]` gives text
    assert _config()["seeds"] == [0] and _config(seed=4)["seeds"] == [4]
    with pytest.raises(ConfigError, match=r"models.a.s1: a model name may not end in .s<number>"):
        _config(models={"a.s1": {"source": "hub", "path": "x"}})
    table = {"datasets": ["text"], "blocks": [{"name": "x", "rows": [{"label": "A", "model": "a~b@alice.s1"}]}]}
    with pytest.raises(ConfigError, match=r"rows.0.model: 'a~b@alice.s1' names a seed; list seeds in `seeds`"):
        _config(tables={"table1": table})


# --- the bootstrap over seeds, then items -----------------------------------------------


def test_one_seed_s_bootstrap_is_the_items_bootstrap():
    rng = np.random.default_rng(1)
    correct = (rng.random((3, 150)) < np.array([[0.5], [0.2], [0.8]])).astype(float)
    assert pgr.seeds_bootstrap(correct[None], 300, 0.95, 3) == pgr.paired_bootstrap(correct, 300, 0.95, 3)


def test_the_seeds_bootstrap_widens_with_run_to_run_noise():
    rng = np.random.default_rng(2)
    n = 400
    weak = rng.random(n) < 0.2
    strong = rng.random(n) < 0.8

    def runs(student_rates):
        return np.stack([np.stack([rng.random(n) < r, weak, strong]).astype(float) for r in student_rates])

    steady, noisy = runs([0.5, 0.5, 0.5]), runs([0.3, 0.5, 0.7])
    a, b = pgr.seeds_bootstrap(steady, 600, 0.95, 0), pgr.seeds_bootstrap(noisy, 600, 0.95, 0)
    # the point is PGR of the accuracies averaged over seeds
    means = noisy.mean(axis=(0, 2))
    assert b["pgr"] == pytest.approx((means[0] - means[1]) / (means[2] - means[1]))
    assert a["pgr_low"] < a["pgr"] < a["pgr_high"] and b["pgr_low"] < b["pgr"] < b["pgr_high"]
    assert (b["pgr_high"] - b["pgr_low"]) > 2 * (a["pgr_high"] - a["pgr_low"])


def test_pooled_difference_sums_discordant_pairs_over_seeds():
    a = np.array([[1, 1, 1, 0, 0, 1], [1, 1, 0, 0, 0, 1]])
    b = np.array([[1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 1]])
    result = paired.pooled_difference(a, b, 300, 0.95, 0)
    assert (result["only_model_right"], result["only_other_right"]) == (4, 1)
    assert result["mcnemar_p"] == pytest.approx(paired.mcnemar_exact_p(4, 1))
    assert result["difference"] == pytest.approx((a - b).mean()) and result["n"] == 6


# --- tables over seeds ----------------------------------------------------------------


def _write_eval(folder, dataset, model, correct):
    ids = [f"q{i}" for i in range(len(correct))]
    pd.DataFrame({"id": ids, "correct": correct}).to_parquet(folder / f"{dataset}-{model}.parquet")
    values = np.asarray(correct, dtype=float)
    summary = {"n": len(values), "accuracy": values.mean(), "accuracy_stderr": values.std() / np.sqrt(len(values)),
               "unparsed_rate": 0.1, "exact_match": 0.0, "f1": 0.0}
    (folder / f"{dataset}-{model}.json").write_text(json.dumps(summary))


def test_a_table_over_seeds_gives_means_se_across_seeds_and_per_seed_rows(tmp_path):
    table = {"datasets": ["math"], "blocks": [
        {"name": "w -> s", "chain": ["w", "s"]},
        {"name": "Ablation", "rows": [{"label": "w/o U", "model": "w~s@alice-no-unc"}]},
    ]}
    cells = plan.table_cells(table)
    runs = [{"seed": s, "keys": {k: plan.with_seed(k, s, 0) for _, k in plan.cell_models(cells)}} for s in (0, 1, 2)]
    rng = np.random.default_rng(0)
    rates = {"w@gold": 0.2, "s@gold": 0.8, "w~s@w2s-qa": 0.3, "w~s@w2s-cot": 0.4, "w~s@alice": 0.6, "w~s@alice-no-unc": 0.5}
    accuracy = {}
    for run in runs:
        for key, rate in rates.items():
            correct = (rng.random(120) < rate + 0.05 * run["seed"]).tolist()
            _write_eval(tmp_path, "math", run["keys"][key], correct)
            accuracy[(run["seed"], key)] = float(np.mean(correct))
            quality = {"labels": 10 + run["seed"], "label_accuracy": 0.5, "unparsed_rate": 0.0, "sources": {"teacher": 10 + run["seed"]}}
            (tmp_path / f"q-{run['keys'][key]}.json").write_text(json.dumps(quality))
    frame = tables.collect(cells, runs, lambda d, m: str(tmp_path / f"{d}-{m}.json"),
                           lambda d, m: str(tmp_path / f"{d}-{m}.parquet"), BOOT, lambda d, m: str(tmp_path / f"q-{m}.json"))
    assert list(frame.columns) == tables.CSV_COLUMNS and len(frame) == 4 * len(cells)
    means, per_seed = frame[frame["seed"] == "mean"], frame[frame["seed"] != "mean"]
    assert list(means["model"]) == [c["model"] for c in cells] and (means["source"] == "").all()
    assert sorted(set(per_seed["model"])) == sorted(runs[s]["keys"][c["model"]] for s in (0, 1, 2) for c in cells)
    alice = means[means["row"] == "Alice"].iloc[0]
    values = [accuracy[(s, "w~s@alice")] for s in (0, 1, 2)]
    assert alice.accuracy == pytest.approx(np.mean(values))
    assert alice.accuracy_stderr == pytest.approx(np.std(values, ddof=1) / np.sqrt(3))
    assert alice.train_labels == pytest.approx(11) and alice.pgr_low < alice.pgr < alice.pgr_high
    seed1 = per_seed[(per_seed["row"] == "Alice") & (per_seed["seed"] == 1)].iloc[0]
    assert (seed1.model, seed1.weak, seed1.strong) == ("w~s@alice.s1", "w@gold.s1", "s@gold.s1")
    text = tables.to_markdown(frame, "T", set(), 0.95)
    assert "Mean over 3 seeds (0, 1, 2;" in text and "resamples the seeds" in text
    assert f"| Alice | w -> s | {100 * alice.accuracy:.2f} ±{100 * alice.accuracy_stderr:.2f}" in text
    assert "11 labels, 50.00% right (0.00% unparsed) (means over the seeds)" in text
    tables.plot(frame, tmp_path / "t.png", "T")

    shown = tables.shown(frame)
    comparisons = paired.compare(cells, runs, lambda d, m: pd.read_parquet(tmp_path / f"{d}-{m}.parquet"),
                                 lambda c: shown.set_index("model").loc[c["model"], "accuracy"], BOOT)
    # per comparison: pooled first, then each seed
    assert list(comparisons["seed"]) == ["mean", 0, 1, 2, "mean", 0, 1, 2]
    assert list(comparisons["other"])[:4] == ["w~s@w2s-cot", "w~s@w2s-cot", "w~s@w2s-cot.s1", "w~s@w2s-cot.s2"]
    lines = paired.to_markdown(comparisons, 0.95)
    assert any("| Seed |" in line for line in lines) and any("| mean | " in line for line in lines)


# --- the real workflow ------------------------------------------------------------------

# Rules whose outputs are made by chance, or from what is, on Table 3's toy_trivia
# (no human CoT: the CoT filter generates); the rest is made once for every seed.
SEEDED_RULES = {"cot_filter", "labels_teacher_cot", "sample", "cluster", "summarize_uncertainty", "zeroshot",
                "synthesize", "slice_labels", "w2s_answers", "sft", "eval", "label_quality"}


@pytest.mark.incremental
def test_a_second_seed_plans_only_its_own_runs_and_shares_the_rest(toy_run):
    (toy_run / "seeds.yaml").write_text("seeds: [0, 1]\n")
    result = snakemake(toy_run, "-n", "table3", "--configfile", str(toy_run / "config" / "toy.yaml"),
                       str(toy_run / "seeds.yaml"), checkout=toy_run)
    assert result.returncode == 0, result.stderr[-3000:]
    planned = planned_outputs(result.stdout)
    tables_jobs = {job for job in planned if job[0] in ("table", "table_report")}
    assert {rule for rule, _ in tables_jobs} == {"table", "table_report"}
    seed1 = planned - tables_jobs
    # nothing of seed 0 reruns; every job of seed 1 is a seed-0 job of a seeded rule, under .s1
    assert all(".s1" in output for _, output in seed1)
    everything = snakemake(toy_run, "-n", "--forceall", "table3", checkout=toy_run)
    seed0 = {job for job in planned_outputs(everything.stdout) if job[0] in SEEDED_RULES}
    assert {(rule, output.replace(".s1", "")) for rule, output in seed1} == seed0


@pytest.mark.incremental
def test_a_seeded_job_really_samples_with_its_seed(toy_run):
    target = "results/zeroshot/toy_trivia/tiny-qwen-m.s1/all.parquet"
    (toy_run / "seeds.yaml").write_text("seeds: [0, 1]\n")
    result = snakemake(toy_run, "--cores", "2", target, "--configfile", str(toy_run / "config" / "toy.yaml"),
                       str(toy_run / "seeds.yaml"), checkout=toy_run)
    assert result.returncode == 0, result.stderr[-3000:]
    seed0 = pd.read_parquet(toy_run / "results/zeroshot/toy_trivia/tiny-qwen-m/all.parquet")
    seed1 = pd.read_parquet(toy_run / target)
    assert list(seed0["id"]) == list(seed1["id"]) and list(seed0["response"]) != list(seed1["response"])
    manifest = json.loads((toy_run / f"{target}.manifest.json").read_text())
    assert manifest["params"]["seed"] == 1
