"""Optional experiment tracking: every finished job of a run as an MLflow run.

Off by default. ``tracking: {backend: mlflow}`` in the config turns it on; the
store is ``tracking.uri`` (default ``sqlite:///<results>/mlflow.db``, a local file
that works offline) and the experiment ``tracking.experiment``.

Nothing is logged from inside a job. When a run of the workflow ends (Snakemake's
``onsuccess`` / ``onerror``), the Snakemake process reads the manifests the jobs
wrote and logs each artifact (a job's output with its manifest) not logged before
(a ledger in ``<results>/logs/``) as one MLflow run: its params (the rule's exact params), its numeric stats and wall time
as metrics, a fine-tuned model's training curve as per-step metrics, and a table's
cells (accuracy, PGR and its interval). Runs are tagged with their stage, dataset
and model key, and with the tables whose cells they feed (``alice.tables``); each
table is a run of its own (``table:<name>``). So a tracking failure cannot fail or
slow a job, the jobs' code (their rerun fingerprints) does not depend on it, and a
failure warns once and logs nothing more.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alice_w2s.io import FOLDER_MANIFEST, MANIFEST_SUFFIX, artifact_path

LEDGER = "logs/tracking_ledger.jsonl"  # one line per logged artifact, appended
BATCH = 100  # MLflow takes at most 100 params (and 1000 metrics) per log_batch call
MAX_PARAM_CHARS = 500


def store_uri(settings: dict, results: Path) -> str:
    return settings.get("uri") or f"sqlite:///{(results / 'mlflow.db').resolve()}"


def _name(text: str) -> str:
    """An MLflow key: letters, digits, _ - . / and spaces."""
    return re.sub(r"[^\w\-./ ]", "_", text)


def flat_params(params: Any, prefix: str = "") -> dict[str, str]:
    """Nested params as ``a.b.c: value`` strings, cut to MLflow's size."""
    if isinstance(params, dict):
        out: dict[str, str] = {}
        for key, value in params.items():
            out.update(flat_params(value, f"{prefix}{key}."))
        return out
    value = json.dumps(params) if isinstance(params, list) else str(params)
    if len(value) > MAX_PARAM_CHARS:
        value = value[: MAX_PARAM_CHARS - 1] + "…"
    return {_name(prefix.rstrip(".")): value}


def numeric(stats: dict, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a stats dict (nested dicts flattened), as metrics."""
    out: dict[str, float] = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            out.update(numeric(value, f"{prefix}{key}."))
        elif isinstance(value, bool):
            out[_name(prefix + key)] = float(value)
        elif isinstance(value, (int, float)) and math.isfinite(value):
            out[_name(prefix + key)] = float(value)
    return out


def _manifests(results: Path) -> Iterator[Path]:
    found = set(results.rglob("*" + MANIFEST_SUFFIX)) | set(results.rglob(FOLDER_MANIFEST))
    yield from sorted(p for p in found if ".snakemake" not in p.parts and "export" not in p.relative_to(results).parts[:1])


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines()))


def _tables(results: Path) -> dict[str, list[dict[str, str]]]:
    """Each built table's rows (tables/<name>.csv)."""
    return {p.stem: _rows(p) for p in sorted((results / "tables").glob("*.csv"))
            if not p.name.endswith(".comparisons.csv")}


def _cell_metrics(rows: list[dict[str, str]]) -> dict[str, float]:
    out = {}
    for row in rows:
        cell = f"{row['dataset']}/{row['block']}/{row['row']}"
        for column in ("accuracy", "pgr", "pgr_low", "pgr_high"):
            try:
                value = float(row.get(column) or "nan")
            except ValueError:
                continue
            if math.isfinite(value):
                out[_name(f"{cell}/{column}")] = value
    return out


def _curve(folder: Path) -> list[tuple[str, float, int]]:
    path = folder / "training_curve.csv"
    if not path.is_file():
        return []
    points = []
    for row in _rows(path):
        step = int(float(row["step"]))
        for column in ("loss", "learning_rate", "grad_norm"):
            if row.get(column) not in (None, ""):
                points.append((f"train/{column}", float(row[column]), step))
    return points


def _model_key(parts: tuple[str, ...]) -> str:
    """The model key of a fine-tuned model's folder, evaluation or label-quality file
    (a key may hold dots: ``w~s@alice.c2``); "" for other artifacts."""
    if parts[0] == "models" and len(parts) == 3:
        return parts[2]
    if parts[0] in ("eval", "label_quality") and len(parts) == 3:
        return re.sub(r"\.(json|parquet)$", "", parts[2])
    return ""


def log_finished_jobs(results: Path, settings: dict) -> int:
    """Log every manifest under ``results`` not logged before; the number logged."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store_uri(settings, results))
    experiment = client.get_experiment_by_name(settings["experiment"])
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(settings["experiment"])
    ledger_path = results / LEDGER
    ledger = _read_ledger(ledger_path)
    tables = _tables(results)
    feeds: dict[str, set[str]] = {}  # model key -> tables with a cell of it
    for table, rows in tables.items():
        for row in rows:  # a cell's model and the Weak and Strong its PGR uses
            for column in ("model", "weak", "strong"):
                if row.get(column):
                    feeds.setdefault(row[column], set()).add(table)
    logged = 0
    for path in _manifests(results):
        relative = str(path.relative_to(results))
        manifest = json.loads(path.read_text())
        stamp = manifest.get("finished_at")
        if ledger.get(relative) == stamp:
            continue
        artifact = artifact_path(path)
        run_name = str(artifact.relative_to(results))
        parts = artifact.relative_to(results).parts
        key = _model_key(parts)
        tags = {"alice.stage": parts[0], "alice.artifact": run_name, "alice.finished_at": str(stamp),
                "alice.host": str(manifest.get("host")), "alice.logged_by": "alice_w2s.tracking"}
        if len(parts) > 2:
            tags["alice.dataset"] = parts[1]
        if key:
            tags["alice.key"] = key
            if key in feeds:
                tags["alice.tables"] = ",".join(sorted(feeds[key]))
        metrics = numeric(manifest.get("stats") or {})
        if manifest.get("wall_seconds") is not None:
            metrics["wall_seconds"] = float(manifest["wall_seconds"])
        if parts[0] == "tables" and artifact.suffix == ".csv" and artifact.stem in tables:
            run_name = f"table:{artifact.stem}"
            tags["alice.tables"] = artifact.stem
            metrics.update(_cell_metrics(tables[artifact.stem]))
        now = int(time.time() * 1000)
        run = client.create_run(experiment_id, run_name=run_name, tags=tags)
        points = [Metric(k, v, now, 0) for k, v in metrics.items()]
        if path.name == FOLDER_MANIFEST:
            points += [Metric(k, v, now, step) for k, v, step in _curve(path.parent)]
        params = [Param(k, v) for k, v in flat_params(manifest.get("params") or {}).items()]
        for start in range(0, max(len(params), len(points), 1), BATCH):
            client.log_batch(run.info.run_id, metrics=points[start: start + BATCH], params=params[start: start + BATCH])
        client.set_terminated(run.info.run_id)
        # after each run, so that a failure later logs none twice; appended, so that
        # a grid's thousands of artifacts do not rewrite the whole ledger each time
        ledger_path.parent.mkdir(parents=True, exist_ok=True)
        with ledger_path.open("a") as f:
            f.write(json.dumps({"manifest": relative, "finished_at": stamp}) + "\n")
        logged += 1
    return logged


def _read_ledger(path: Path) -> dict[str, str | None]:
    """manifest -> the finished_at last logged (a later line wins; a line cut off by a
    crash is skipped, and that artifact logged again)."""
    ledger: dict[str, str | None] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            ledger[entry["manifest"]] = entry["finished_at"]
    return ledger


def track(config: dict) -> None:
    """The workflow's end-of-run hook: log what finished; never raise."""
    settings = config.get("tracking") or {}
    if settings.get("backend", "none") == "none":
        return
    results = Path(config["results"])
    try:
        n = log_finished_jobs(results, settings)
        print(f"tracking: {n} artifacts of finished jobs logged to {store_uri(settings, results)} "
              f"(experiment {settings['experiment']})", file=sys.stderr)
    except Exception as error:  # tracking must never fail the run
        print(f"warning: tracking to {store_uri(settings, results)} failed, nothing more logged: "
              f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}", file=sys.stderr)
