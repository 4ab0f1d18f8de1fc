"""Run Snakemake on this checkout's Snakefile in a scratch working directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snakemake(
    workdir: Path, *args: str, timeout: int = 900, checkout: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the Snakefile of ``checkout`` (this repository, or a copy) in ``workdir``.
    Without a ``--configfile`` in ``args`` it runs the tiny models' grid
    (``config/toy.yaml``), the test suite's fast fixture; the embedded default
    (``config/config.yaml``, SmolLM2 on CPU) is run by name where a test means it.
    ``env`` adds environment variables to the run's."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    if "--configfile" not in args:
        args = (*args, "--configfile", str(checkout / "config" / "toy.yaml"))
    command = [sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def copy_checkout(target: Path) -> Path:
    """The workflow's files (not results, venv or git) copied to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "workflow", "config", "resources", "src", "profiles"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)
    return target


def planned_outputs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, first output) of every job a dry run plans."""
    jobs = set()
    for block in re.split(r"\n(?=rule \w+:)", dry_run_output):
        rule = re.match(r"rule (\w+):", block)
        output = re.search(r"^\s+output: ([^,\n]+)", block, re.MULTILINE)
        if rule and output:
            jobs.add((rule[1], output[1].strip()))
    return jobs


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}."""
    block = dry_run_output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.MULTILINE)}


def planned_jobs(dry_run_output: str) -> list[dict]:
    """Every job a dry run plans: rule, inputs, outputs, wildcards and resources."""
    import dataclasses

    from alice_w2s.cost import planned_jobs as parse

    return [dataclasses.asdict(job) for job in parse(dry_run_output)]
