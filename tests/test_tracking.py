"""Optional experiment tracking (src/alice_w2s/tracking.py): a finished run's jobs
logged to a real local MLflow store and read back through MLflow's own API; the
end-of-run hook in a real Snakemake run; a broken store warns once and fails
nothing; a bad backend stops the plan with one line."""

from __future__ import annotations

import csv
import json

import pytest
from mlflow.tracking import MlflowClient  # a dependency of the package: never skipped
from snakemake_runner import snakemake

from alice_w2s import tracking


def _runs(uri: str, experiment: str) -> dict[str, object]:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=5000)
    return {run.info.run_name: run for run in runs}


def test_a_finished_run_logged_and_read_back(toy_run, tmp_path):
    results = toy_run / "results"
    settings = {"backend": "mlflow", "uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "table3-test"}
    manifests = list(tracking._manifests(results))
    ledger = tmp_path / "ledger.json"
    try:
        assert tracking.log_finished_jobs(results, settings) == len(manifests) > 20
        assert tracking.log_finished_jobs(results, settings) == 0  # the ledger: nothing twice
    finally:
        if (results / tracking.LEDGER).exists():  # the shared run stays as other tests expect
            (results / tracking.LEDGER).rename(ledger)
    runs = _runs(settings["uri"], "table3-test")
    assert len(runs) == len(manifests)
    client = MlflowClient(tracking_uri=settings["uri"])

    # an evaluation: its accuracy and params as the manifest has them
    eval_manifest = next(p for p in manifests if p.parts[-3] == "eval" and p.name.endswith(".json.manifest.json"))
    recorded = json.loads(eval_manifest.read_text())
    run = runs[str(eval_manifest.relative_to(results))[: -len(".manifest.json")]]
    assert run.data.metrics["accuracy"] == pytest.approx(recorded["stats"]["accuracy"])
    assert run.data.params["code"] == recorded["params"]["code"]
    assert run.data.tags["alice.stage"] == "eval" and run.data.tags["alice.key"] in run.info.run_name
    tables = {p.stem: {r[c] for r in csv.DictReader(p.open()) for c in ("model", "weak", "strong")}
              for p in (results / "tables").glob("*.csv") if not p.name.endswith(".comparisons.csv")}
    key = run.data.tags["alice.key"]
    assert run.data.tags["alice.tables"].split(",") == sorted(t for t, keys in tables.items() if key in keys) != []
    # a cascade link's model keeps the dot of its key (w~m~s@alice.c2)
    link = next(p for p in (results / "models").glob("*/*") if ".c" in p.name.rsplit("@", 1)[-1])
    assert runs[str(link.relative_to(results))].data.tags["alice.key"] == link.name

    # a fine-tuned model: its training curve step by step
    model = next(p.parent for p in manifests if p.name == "alice_manifest.json" and (p.parent / "training_curve.csv").is_file())
    run = runs[str(model.relative_to(results))]
    curve = list(csv.DictReader((model / "training_curve.csv").open()))
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (int(float(r["step"])), pytest.approx(float(r["loss"]))) for r in curve]

    # the table: one run with its cells
    table = runs["table:table3"]
    rows = list(csv.DictReader((results / "tables" / "table3.csv").open()))
    row = next(r for r in rows if r["accuracy"])
    key = tracking._name(f"{row['dataset']}/{row['block']}/{row['row']}/accuracy")
    assert table.data.metrics[key] == pytest.approx(float(row["accuracy"]))


def test_the_end_of_run_hook_logs_and_a_broken_store_warns_once(tmp_path):
    target = "results/data/toy_trivia/transfer_questions.parquet"
    good = snakemake(tmp_path, "--cores", "1", target, "--config", "tracking={'backend': 'mlflow'}", timeout=300)
    assert good.returncode == 0, good.stderr[-3000:]
    artifacts = {str(p.relative_to(tmp_path / "results"))[: -len(".manifest.json")]
                 for p in (tmp_path / "results").rglob("*.manifest.json")}
    assert {"data/toy_trivia/transfer.parquet", "data/toy_trivia/transfer_questions.parquet"} <= artifacts
    assert f"tracking: {len(artifacts)} artifacts of finished jobs logged to sqlite:///" in good.stderr
    runs = _runs(f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}", "alice-w2s")
    assert set(runs) == artifacts
    (tmp_path / "results" / "data" / "toy_trivia" / "transfer_questions.parquet").unlink()
    (tmp_path / "a_file").write_text("")  # a store under a file cannot be made
    uri = f"sqlite:///{tmp_path / 'a_file' / 'mlflow.db'}"
    broken = snakemake(tmp_path, "--cores", "1", target, "--config",
                       f"tracking={{'backend': 'mlflow', 'uri': '{uri}'}}", timeout=300)
    assert broken.returncode == 0, broken.stderr[-3000:]
    assert (tmp_path / target).is_file()
    said = [line for line in broken.stderr.splitlines() if line.startswith(("tracking", "warning: tracking"))]
    assert len(said) == 1 and said[0].startswith(f"warning: tracking to {uri} failed, nothing more logged:"), said


def test_an_unknown_backend_stops_the_plan_with_one_line(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "tracking={'backend': 'wandb'}")
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error")]
    assert result.returncode != 0 and len(errors) == 1 and "tracking.backend" in errors[0], errors
