"""The GPU and disk bill of a plan (src/alice_w2s/cost.py): its arithmetic, the paper
grid's figures from a real dry run, the measured side read from manifests and outputs'
sizes, bad targets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from snakemake_runner import ROOT, job_counts, snakemake

from alice_w2s import cost
from alice_w2s.cost import Job

PAPER = ROOT / "config" / "paper.yaml"


def test_bill_arithmetic_and_the_measured_side(tmp_path):
    folder, file = tmp_path / "models" / "m@gold", tmp_path / "eval" / "m@gold.json"
    folder.mkdir(parents=True)
    file.parent.mkdir()
    (folder / "alice_manifest.json").write_text(json.dumps({"wall_seconds": 5400}))
    with open(folder / "model.safetensors", "wb") as weights:
        weights.truncate(50_000_000)  # sparse: counted by its size, 0.05 GB
    file.with_name(file.name + ".manifest.json").write_text(json.dumps({"wall_seconds": 360}))
    jobs = [
        # finished: 4 x 1.5 h measured
        Job("sft", output=["models/m@gold"], resources={"gpu": "4", "runtime": "90", "model_folder_mb": "3000"}),
        Job("sft", output=["models/m@alice"], resources={"gpu": "2", "runtime": "30", "model_folder_mb": "3000"}),
        Job("eval", output=["eval/m@gold.json"], resources={"gpu": "1", "runtime": "60"}),
        Job("table", output=["tables/t.csv"], resources={"gpu": "0", "runtime": "30"}),
        Job("t1", input=["tables/t.csv"], resources={"tmpdir": "/tmp"}),  # a target rule: no row
    ]
    to_run = [jobs[1]]
    frame = cost.bill(jobs, to_run, tmp_path).set_index("rule")
    assert list(frame.index) == ["sft", "eval", "table", "total"]
    sft = frame.loc["sft"]
    assert (sft.jobs, sft.gpu_jobs, sft.gpus_per_job) == (2, 2, "2-4")
    assert sft.requested_gpu_hours == pytest.approx(4 * 1.5 + 2 * 0.5)
    assert (sft.to_run_gpu_jobs, sft.to_run_requested_gpu_hours) == (1, pytest.approx(1.0))
    assert (sft.finished_gpu_jobs, sft.measured_gpu_hours) == (1, pytest.approx(4 * 1.5))
    # disk: the model folders' model_folder_mb (MB of 10^6 bytes); measured: the finished folder's files
    assert (sft.disk_gb, sft.to_run_disk_gb) == (pytest.approx(6.0), pytest.approx(3.0))
    assert sft.measured_disk_gb == pytest.approx(0.05, abs=1e-6)
    assert frame.loc["eval", "measured_disk_gb"] == pytest.approx(0, abs=1e-6)
    assert frame.loc["eval", "measured_gpu_hours"] == pytest.approx(0.1)
    assert frame.loc["table", "gpu_jobs"] == 0
    total = frame.loc["total"]
    assert (total.jobs, total.gpu_jobs, total.requested_gpu_hours) == (4, 3, pytest.approx(8.0))
    markdown = cost.to_markdown(frame.reset_index())
    assert markdown.splitlines()[2] == "| sft | 2 | 2 | 2-4 | 7.0 | 1 | 1.0 | 1 | 6.00 | 1 | 1.50 | 6.0 | 3.0 | 0.05 |"
    assert (total.finished_jobs, total.measured_job_hours) == (2, pytest.approx(1.6))


def test_paper_grid_bill_from_its_dry_run(tmp_path):
    result = snakemake(tmp_path, "-n", "--forceall", "table1", "--configfile", str(PAPER), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = cost.planned_jobs(result.stdout)
    counts = job_counts(result.stdout)
    frame = cost.bill(jobs, jobs, tmp_path).set_index("rule")
    assert {rule: int(frame.loc[rule, "jobs"]) for rule in frame.index if rule != "total"} == {
        rule: n for rule, n in counts.items() if rule not in ("table1", "total")}
    # the requests rules/ make from size_b and config resources: a 1.5B model's SFT
    # job asks 1 GPU for 60 + 60 x 1.5 minutes; the 72B summarizer 4 GPUs
    sft = {tuple(j.output): j for j in jobs if j.rule == "sft"}
    small = next(j for out, j in sft.items() if out[0].endswith("/qwen2.5-1.5b@gold"))
    assert (small.gpus, small.runtime_hours) == (1, pytest.approx(2.5))
    # its folder: 1.5 billion parameters saved in bf16 (sft.bf16 on a GPU), 2 bytes each
    assert small.disk_gb == pytest.approx(3.0)
    assert frame.loc["total", "disk_gb"] == pytest.approx(sum(j.disk_gb for j in sft.values()))
    assert frame.loc["summarize_uncertainty", "gpus_per_job"] == "4"
    assert frame.loc["total", "requested_gpu_hours"] == pytest.approx(
        sum(j.gpus * j.runtime_hours for j in jobs if j.output))
    assert frame.loc["total", "gpu_jobs"] > 100 and frame.loc["total", "finished_gpu_jobs"] == 0


def test_cli_writes_csv_and_markdown_and_names_a_bad_target(tmp_path):
    out = tmp_path / "cost" / "table_demo"
    env_cmd = [sys.executable, "-m", "alice_w2s.cost"]
    # --default-resources (as a cluster profile gives it) sets Snakemake's disk_mb on
    # every job: the bill must not count it
    done = subprocess.run([*env_cmd, "table_demo", "--out", str(out), "-d", str(tmp_path / "work"),
                           "--default-resources", "slurm_partition=gpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("| rule | jobs | GPU jobs |")
    csv = out.with_suffix(".csv").read_text().splitlines()
    assert csv[0] == ",".join(cost.COLUMNS) and csv[-1].startswith("total,")
    # the embedded default trains on CPUs, in fp32 whatever sft.bf16 says: 10 folders of
    # SmolLM2 (size_b 0.135) at 4 bytes a parameter, 8 fine-tuned, 2 base models
    total = dict(zip(cost.COLUMNS, csv[-1].split(","), strict=True))
    assert float(total["disk_gb"]) == pytest.approx(10 * 0.54)
    assert out.with_suffix(".md").read_text() in done.stdout
    bad = subprocess.run([*env_cmd, "no_such_table", "-d", str(tmp_path / "work")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("cost: the dry run of no_such_table failed:")
