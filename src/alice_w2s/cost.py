"""What running some targets will cost in GPU jobs, GPU-hours and disk, per rule and
in total, before running them; and, for the jobs already finished, what they took.

The figures come from Snakemake's own plan (a dry run), so they are the requests
SLURM would get: each job's GPUs and runtime as ``rules/`` set them from the model's
``size_b`` and the config's ``resources`` block. GPU-hours are GPUs x requested
runtime, an upper bound: what a cluster reserves, not what a job that ends early
uses. Disk is the model folders' weights: the ``model_folder_mb`` resource the rules
give each job that writes one (``preflight.model_folder_mb``: 2 or 4 bytes a
parameter; not Snakemake's ``disk_mb``, which ``--default-resources`` sets on every
job); the other outputs are small beside them. "Still to run" is the plain dry run
(what is missing or stale); "all" is the same targets with ``--forceall``. For every
finished job, its manifest's ``wall_seconds`` (x its GPUs) is the measured side,
job-hours on a CPU run too, and so is the size of its outputs on disk.

    python -m alice_w2s.cost table1 table2 table3 --configfile config/paper.yaml
    python -m alice_w2s.cost table_demo --out results/cost/table_demo   # also .csv and .md

Arguments after the targets go to Snakemake unchanged (``--configfile``, ``--config``,
``-d``). Run it from the checkout's root, where the Snakefile is.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alice_w2s.io import manifest_path

COLUMNS = [
    "rule", "jobs", "gpu_jobs", "gpus_per_job", "requested_gpu_hours",
    "to_run_gpu_jobs", "to_run_requested_gpu_hours", "finished_gpu_jobs", "measured_gpu_hours",
    "finished_jobs", "measured_job_hours", "disk_gb", "to_run_disk_gb", "measured_disk_gb",
]


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    input: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def gpus(self) -> int:
        return int(self.resources.get("gpu") or 0)

    @property
    def runtime_hours(self) -> float:
        return float(self.resources.get("runtime") or 0) / 60  # Snakemake's runtime is in minutes

    @property
    def disk_gb(self) -> float:
        return float(self.resources.get("model_folder_mb") or 0) / 1e3  # MB of 10^6 bytes


def _listed(value: str | None) -> list[str]:
    return [part.strip() for part in value.split(", ")] if value else []


def planned_jobs(dry_run_output: str) -> list[Job]:
    """Every job a dry run (``snakemake -n``) prints: rule, wildcards, inputs,
    outputs and resources. Target rules without a job body (no resources) count too."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", dry_run_output):
        rule = re.match(r"rule (\w+):", block)
        if not rule:
            continue
        fields = {}
        for name in ("input", "output", "wildcards", "resources"):
            found = re.search(rf"^\s+{name}: (.*)$", block, re.MULTILINE)
            fields[name] = _listed(found[1]) if found else []
        jobs.append(Job(
            rule=rule[1],
            wildcards=dict(part.split("=", 1) for part in fields["wildcards"]),
            input=fields["input"],
            output=fields["output"],
            resources=dict(part.split("=", 1) for part in fields["resources"] if "=" in part),
        ))
    return jobs


def measured_seconds(job: Job, workdir: Path) -> float | None:
    """Wall-clock seconds of a finished job, from its first output's manifest."""
    if not job.output:
        return None
    manifest = manifest_path(workdir / job.output[0])
    if not manifest.is_file():
        return None
    seconds = json.loads(manifest.read_text()).get("wall_seconds")
    return float(seconds) if seconds is not None else None


def measured_disk_gb(job: Job, workdir: Path) -> float:
    """What a finished job's outputs hold on disk, folders walked, in GB (10^9 bytes)."""
    total = 0
    for output in job.output:
        path = workdir / output
        files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        total += sum(f.stat().st_size for f in files)
    return total / 1e9


def bill(every_job: list[Job], to_run: list[Job], workdir: Path) -> pd.DataFrame:
    """One row per rule with planned jobs, most requested GPU-hours first, and a total row."""
    pending = {(j.rule, tuple(j.output)) for j in to_run}
    rows = []
    for rule in dict.fromkeys(j.rule for j in every_job if j.output):  # not the target rules
        jobs = [j for j in every_job if j.rule == rule]
        gpu_jobs = [j for j in jobs if j.gpus]
        gpus = sorted({j.gpus for j in gpu_jobs})
        queued = [j for j in jobs if (j.rule, tuple(j.output)) in pending]
        waiting = [j for j in queued if j.gpus]
        finished = [(j, s) for j in jobs if (j.rule, tuple(j.output)) not in pending
                    and (s := measured_seconds(j, workdir)) is not None]
        finished_gpu = [(j, s) for j, s in finished if j.gpus]
        rows.append({
            "rule": rule,
            "jobs": len(jobs),
            "gpu_jobs": len(gpu_jobs),
            "gpus_per_job": "-".join(map(str, dict.fromkeys([gpus[0], gpus[-1]]))) if gpus else "0",
            "requested_gpu_hours": sum(j.gpus * j.runtime_hours for j in gpu_jobs),
            "to_run_gpu_jobs": len(waiting),
            "to_run_requested_gpu_hours": sum(j.gpus * j.runtime_hours for j in waiting),
            "finished_gpu_jobs": len(finished_gpu),
            "measured_gpu_hours": sum(j.gpus * s / 3600 for j, s in finished_gpu),
            "finished_jobs": len(finished),
            "measured_job_hours": sum(s / 3600 for _, s in finished),
            "disk_gb": sum(j.disk_gb for j in jobs),
            "to_run_disk_gb": sum(j.disk_gb for j in queued),
            "measured_disk_gb": sum(measured_disk_gb(j, workdir) for j, _ in finished),
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.sort_values(["requested_gpu_hours", "jobs"], ascending=False, kind="stable")
    total = {c: frame[c].sum() for c in COLUMNS if c not in ("rule", "gpus_per_job")}
    total.update(rule="total", gpus_per_job="")
    return pd.concat([frame, pd.DataFrame([total], columns=COLUMNS)], ignore_index=True)


def to_markdown(frame: pd.DataFrame) -> str:
    headers = ["rule", "jobs", "GPU jobs", "GPUs a job", "GPU-hours requested", "GPU jobs to run",
               "GPU-hours to run", "GPU jobs finished", "GPU-hours measured", "jobs finished", "job-hours measured",
               "disk GB", "disk GB to write", "disk GB measured"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in frame.itertuples(index=False):
        cells = [row.rule, row.jobs, row.gpu_jobs, row.gpus_per_job, f"{row.requested_gpu_hours:.1f}",
                 row.to_run_gpu_jobs, f"{row.to_run_requested_gpu_hours:.1f}", row.finished_gpu_jobs,
                 f"{row.measured_gpu_hours:.2f}", row.finished_jobs, f"{row.measured_job_hours:.2f}",
                 f"{row.disk_gb:.1f}", f"{row.to_run_disk_gb:.1f}", f"{row.measured_disk_gb:.2f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def dry_run(targets: list[str], snakemake_args: list[str], forceall: bool) -> str:
    command = [sys.executable, "-m", "snakemake", "--dry-run", *targets, *snakemake_args]
    command += ["--forceall"] if forceall else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise SystemExit(f"cost: the dry run of {' '.join(targets)} failed: {last[-1] if last else done.returncode}")
    return done.stdout


def _workdir(snakemake_args: list[str]) -> Path:
    for flag in ("-d", "--directory"):
        if flag in snakemake_args:
            return Path(snakemake_args[snakemake_args.index(flag) + 1])
    return Path(".")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+", help="Snakemake targets (table names, all)")
    parser.add_argument("--out", help="also write OUT.csv and OUT.md")
    args, snakemake_args = parser.parse_known_args(argv)
    every_job = planned_jobs(dry_run(args.targets, snakemake_args, forceall=True))
    to_run = planned_jobs(dry_run(args.targets, snakemake_args, forceall=False))
    frame = bill(every_job, to_run, _workdir(snakemake_args))
    markdown = to_markdown(frame)
    print(markdown, end="")
    print("GPU-hours requested: GPUs x the runtime each job asks SLURM for (an upper bound); "
          "measured: wall-clock (x GPUs) of finished jobs, from their manifests.\n"
          "Disk: the weights of the model folders the jobs write, from each model's size_b "
          "(2 bytes a parameter when fine-tuned in bf16 on GPUs, else 4); "
          "measured: what finished jobs' outputs hold.")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(f"{out}.csv", index=False)
        Path(f"{out}.md").write_text(markdown)


if __name__ == "__main__":
    main()
