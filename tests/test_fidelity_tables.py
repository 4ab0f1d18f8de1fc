"""Tables carry the strict and lenient readings beside the paper's accuracy
(issue 8, items 6 and 9)."""

import json

import pandas as pd

from alice_w2s import plan, tables


def test_strict_and_lenient_columns_reach_the_csv_and_markdown(tmp_path):
    table = {"datasets": ["math", "trivia"], "blocks": [{"name": "w -> s", "chain": ["w", "s"]}]}
    cells = plan.table_cells(table)
    for dataset in table["datasets"]:
        for model in {c["model"] for c in cells}:
            pd.DataFrame({"id": ["a", "b"], "correct": [True, False]}).to_parquet(tmp_path / f"{dataset}-{model}.parquet")
            summary = {"n": 2, "accuracy": 0.5, "accuracy_stderr": 0.35, "unparsed_rate": 0.0, "exact_match": 0.0,
                       "f1": 0.0, "strict_accuracy": 0.25, "lenient_accuracy": 0.75}
            (tmp_path / f"{dataset}-{model}.json").write_text(json.dumps(summary))
    frame = tables.collect(
        cells, plan.single_run(cells), lambda d, m: str(tmp_path / f"{d}-{m}.json"), lambda d, m: str(tmp_path / f"{d}-{m}.parquet"),
        {"bootstrap_iterations": 100, "confidence": 0.95, "seed": 0},
    )
    assert (frame["strict_accuracy"] == 0.25).all() and (frame["lenient_accuracy"] == 0.75).all()
    text = tables.to_markdown(frame, "T", {"trivia"}, 0.95)
    strict = text.split("Strict-match accuracy", 1)[1].split("\n\n", 2)[1]
    lenient = text.split("Lenient contain-match accuracy", 1)[1].split("\n\n", 2)[1]
    assert "| Method | Setting | math |" in strict and "trivia" not in strict and "| 25.00 |" in strict
    assert "| Method | Setting | trivia |" in lenient and "| 75.00 |" in lenient


def test_export_of_a_table_not_built_stops_with_one_line(tmp_path, capsys):
    from pathlib import Path

    from alice_w2s.export import main, split_name

    assert main([str(tmp_path / "tables" / "table9.csv"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: no table at {tmp_path / 'tables' / 'table9.csv'}: build it first (snakemake table9)"]
    assert not (tmp_path / "out").exists()
    assert split_name(Path("labels/toy_math/synthesized/a+b~c@alice.c2.parquet")) == "toy_math_synthesized_a_and_b_to_c_by_alice_c2"
    # a cascade and a multi-teacher key of the same models stay apart (both are in Table 2)
    cascade, multi = (split_name(Path(f"labels/d/synthesized/{k}@alice.parquet")) for k in ("a~b~c", "a+b~c"))
    assert cascade != multi


def test_run_info_names_the_commit_and_the_config_files(tmp_path):
    import subprocess

    from alice_w2s.provenance import run_info

    assert run_info(tmp_path, []) == {"commit": "unknown", "configfiles": "the embedded default (config/config.yaml)"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("a")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert run_info(tmp_path, ["config/toy.yaml", "mine.yaml"]) == {"commit": head, "configfiles": "config/toy.yaml, mine.yaml"}
    (tmp_path / "f").write_text("b")
    assert run_info(tmp_path, [])["commit"] == head + "+changes"
