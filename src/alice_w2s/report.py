"""Run statistics and settings for the Snakemake report.

Takes the manifests behind every table cell (alice_w2s.provenance.lineage) and lays out
per stage what each artifact's job counted (CoT filter yield, cluster counts and
sizes, single-cluster share, parse failures, ...) and the settings it ran with.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from alice_w2s import pipeline

# results/<folder>/... -> the stage that wrote it, in pipeline order
STAGES = pipeline.folder_titles()


def stage_of(artifact: str, results: str) -> str:
    relative = Path(artifact).relative_to(results)
    return STAGES.get(relative.parts[0], relative.parts[0])


def _scalars(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if not isinstance(v, dict | list)}


def stage_frames(manifests: dict[str, dict], results: str) -> dict[str, pd.DataFrame]:
    """Per stage, one row per artifact with its job's counts (and derived shares)."""
    rows: dict[str, list[dict]] = {}
    for artifact, manifest in sorted(manifests.items()):
        stage = stage_of(artifact, results)
        row = {"artifact": str(Path(artifact).relative_to(results)), **_scalars(manifest["stats"])}
        if stage == "Clusters" and row.get("questions"):
            row["single_cluster_share"] = row.get("single_cluster_questions", 0) / row["questions"]
            row["no_cluster_share"] = row.get("questions_without_clusters", 0) / row["questions"]
        row["wall_seconds"] = manifest.get("wall_seconds")
        rows.setdefault(stage, []).append(row)
    order = list(STAGES.values())
    return {
        stage: pd.DataFrame(rows[stage])
        for stage in sorted(rows, key=lambda s: order.index(s) if s in order else len(order))
    }


def time_per_stage(stages: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per stage, in pipeline order: its artifacts and the hours their jobs took
    (wall-clock from the manifests; a job with several outputs counts once per output)."""
    rows = []
    for stage, frame in stages.items():
        seconds = pd.to_numeric(frame["wall_seconds"], errors="coerce")
        rows.append({"stage": stage, "artifacts": len(frame), "seconds": seconds.sum(), "longest": seconds.max()})
    rows.append({"stage": "total", "artifacts": sum(r["artifacts"] for r in rows),
                 "seconds": sum(r["seconds"] for r in rows), "longest": None})
    frame = pd.DataFrame(rows)
    frame["job_hours"] = (frame.pop("seconds") / 3600).round(3)
    frame["longest_job_minutes"] = (pd.to_numeric(frame.pop("longest")) / 60).round(1)
    return frame


def settings_frame(manifests: dict[str, dict], results: str) -> pd.DataFrame:
    """One row per artifact: its stage and every setting its job ran with."""
    return pd.DataFrame(
        [
            {
                "stage": stage_of(artifact, results),
                "artifact": str(Path(artifact).relative_to(results)),
                "settings": json.dumps(manifest["params"], sort_keys=True, indent=1),
                "host": manifest.get("host"),
                "finished_at": manifest.get("finished_at"),
            }
            for artifact, manifest in sorted(manifests.items())
        ]
    )


def to_html(title: str, intro: str, sections: dict[str, pd.DataFrame]) -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse;margin-bottom:1.5em}"
        " td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top} pre{margin:0;font-size:11px}</style>",
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>",
    ]
    for name, frame in sections.items():
        frame = frame.copy()
        if "settings" in frame:
            frame["settings"] = frame["settings"].map(lambda s: f"<pre>{html.escape(s)}</pre>")
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(frame.to_html(index=False, escape=False, float_format=lambda v: f"{v:.4g}", na_rep=""))
    parts.append("</body></html>")
    return "\n".join(parts)
