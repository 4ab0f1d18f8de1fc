"""Part of the tiny models' grid (config/toy.yaml) through profiles/slurm on a real single-node
SLURM started on this machine (tools/slurm_local.sh, fake GPUs). Skipped, with
the reason, where the SLURM binaries are missing; CI installs them."""

import json
import os
import re
import shutil
import subprocess
import threading
import time

import pandas as pd
import pytest
from snakemake_runner import ROOT, snakemake

pytestmark = pytest.mark.slurm
MISSING = [b for b in ("slurmctld", "slurmd", "munged", "sbatch", "squeue") if shutil.which(b) is None]
# Rules the test asks SLURM to run: a GPU-requesting generation rule (sample),
# an SFT rule, evaluation, and the table; all of Table 3's direct Alice row.
TARGET = "results/tables/table3.csv"
SAMPLES = "results/samples/toy_trivia/tiny-qwen-m@teacher-cot/all.parquet"
RERUN_ON_SLURM = [  # what depends on the samples, as manifests
    f"{SAMPLES}.manifest.json",
    "results/clusters/toy_trivia/tiny-qwen-m@teacher-cot/all.parquet.manifest.json",
    "results/uncertainty/toy_trivia/tiny-qwen-m@teacher-cot/all.parquet.manifest.json",
    "results/labels/toy_trivia/synthesized/tiny-qwen-m~tiny-qwen-l@alice.parquet.manifest.json",
    "results/models/toy_trivia/tiny-qwen-m~tiny-qwen-l@alice/alice_manifest.json",
    "results/eval/toy_trivia/tiny-qwen-m~tiny-qwen-l@alice.json.manifest.json",
    "results/tables/table3.csv.manifest.json",
]


@pytest.fixture(scope="module")
def cluster():
    if MISSING:
        pytest.skip(f"SLURM binaries not installed ({', '.join(MISSING)}): apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("starting a local SLURM needs root")
    started = subprocess.run(["bash", str(ROOT / "tools" / "slurm_local.sh"), "2"], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr


class Requeuer(threading.Thread):
    """Requeues the first running job of ``rule`` once, as a preemption would
    (PreemptMode=REQUEUE), and lets it start again at once (SLURM holds a requeued
    job for two minutes otherwise)."""

    def __init__(self, rule: str) -> None:
        super().__init__(daemon=True)
        self.rule, self.job_id, self.restarts, self.stop = rule, None, None, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.job_id is None:
            queue = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k"], capture_output=True, text=True).stdout
            rows = [line.split("|", 2) for line in queue.splitlines()]
            # the plugin's comment: rule_<name> or rule_<name>_wildcards_<values>
            running = [r[0] for r in rows if r[1] == "RUNNING" and re.match(rf"rule_{self.rule}(_wildcards|$)", r[2])]
            if running:
                time.sleep(3)  # inside the job's script by now
                subprocess.run(["scontrol", "requeue", running[0]], check=True)
                self.job_id = running[0]
                for _ in range(20):  # once it is PENDING again
                    time.sleep(1)
                    if subprocess.run(["scontrol", "update", f"JobId={running[0]}", "StartTime=now"]).returncode == 0:
                        break
                while not self.stop.is_set():  # SLURM's own count, once the job is back
                    shown = subprocess.run(["scontrol", "show", "job", running[0]], capture_output=True, text=True).stdout
                    if re.search(r"JobState=(RUNNING|COMPLETED)", shown):
                        self.restarts = int(re.search(r"Restarts=(\d+)", shown)[1])
                        break
                    time.sleep(1)
            time.sleep(0.5)


@pytest.fixture(scope="module")
def runs(cluster, toy_run, tmp_path_factory):
    """In a copy of the session's finished local run, the teacher's sampling and
    everything after it redone through SLURM. SLURM thus runs a GPU-requesting
    generation job (sample), clustering, the summary, the synthesis, a GPU SFT job,
    evaluation and the table, and its outputs can be compared with the local ones."""
    local = toy_run
    on_slurm = tmp_path_factory.mktemp("on_slurm") / "checkout"
    shutil.copytree(local, on_slurm, symlinks=True)  # results and .snakemake metadata, mtimes kept
    profile = on_slurm / "profiles" / "test"
    shutil.copytree(ROOT / "profiles" / "slurm", profile)
    # The local cluster has no accounting (sacct) and no account to charge.
    with (profile / "config.yaml").open("a") as handle:
        handle.write("slurm-no-account: true\nslurm-status-command: squeue\nslurm-init-seconds-before-status-checks: 2\n")
        handle.write("slurm-keep-successful-logs: true\n")  # to count how often a job's script ran
    # The overlay only asks for (fake) GPUs: no job's settings change, so only the
    # forced job and what depends on it rerun.
    config = ["--configfile", str(on_slurm / "config" / "toy.yaml"), str(ROOT / "tests" / "slurm_overlay.yaml")]
    requeuer = Requeuer("sample")
    requeuer.start()
    try:
        result = snakemake(
            on_slurm, TARGET, *config, "--forcerun", SAMPLES, "--workflow-profile", str(profile), timeout=1800, checkout=on_slurm
        )
    finally:
        requeuer.stop.set()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return on_slurm, local, (requeuer.job_id, requeuer.restarts)


def _manifests(checkout):
    return {
        str(path.relative_to(checkout)): json.loads(path.read_text())
        for path in (checkout / "results").rglob("*manifest.json")
    }


def test_jobs_ran_as_slurm_jobs_with_gpu_requests(runs):
    on_slurm, local, _ = runs
    manifests = _manifests(on_slurm)
    job_ids = [manifests[path]["scheduler"]["slurm_job_id"] for path in RERUN_ON_SLURM]
    assert None not in job_ids and len(set(job_ids)) == len(RERUN_ON_SLURM)  # one SLURM job each
    sample = manifests[RERUN_ON_SLURM[0]]
    assert sample["scheduler"]["cuda_visible_devices"] is not None  # it asked for, and got, a GPU
    assert sample["params"]["generation"]["backend"] == "vllm"
    sft = manifests[RERUN_ON_SLURM[4]]
    assert sft["scheduler"]["cuda_visible_devices"] is not None
    # its model names a GPU type (models.<name>.gpu_model): SLURM got --gpus=fake:1
    shown = subprocess.run(["scontrol", "show", "job", str(sft["scheduler"]["slurm_job_id"])], capture_output=True, text=True).stdout
    assert "gpu:fake:1" in shown, shown
    assert manifests[RERUN_ON_SLURM[-1]]["scheduler"]["cuda_visible_devices"] is None  # the table asks for none
    # What did not depend on the samples was not redone; the local run had no SLURM.
    assert manifests["results/data/toy_trivia/eval.parquet.manifest.json"]["scheduler"]["slurm_job_id"] is None
    assert manifests["results/samples/toy_trivia/tiny-qwen-s@teacher-cot/all.parquet.manifest.json"]["scheduler"]["slurm_job_id"] is None
    assert all(m["scheduler"]["slurm_job_id"] is None for m in _manifests(local).values())


def test_outputs_match_a_local_run(runs):
    on_slurm, local, _ = runs
    table_slurm = pd.read_csv(on_slurm / TARGET).drop(columns=["source"])
    table_local = pd.read_csv(local / TARGET).drop(columns=["source"])
    pd.testing.assert_frame_equal(table_slurm, table_local)
    for rel in ("samples/toy_trivia/tiny-qwen-m@teacher-cot/all.parquet", "labels/toy_trivia/synthesized/tiny-qwen-m~tiny-qwen-l@alice.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(on_slurm / "results" / rel), pd.read_parquet(local / "results" / rel))


def test_two_gpu_job_runs_once_and_sees_both_gpus(runs):
    """The clustering job asks for 2 GPUs (tests/slurm_overlay.yaml) and 2 CPUs, all the
    node has: one task (no --ntasks-per-gpu), its script started once, both GPUs visible."""
    on_slurm, _, _ = runs
    manifest = _manifests(on_slurm)[RERUN_ON_SLURM[1]]
    assert manifest["scheduler"]["cuda_visible_devices"] == "0,1"
    [log] = [p for p in (on_slurm / ".snakemake" / "slurm_logs" / "rule_cluster").rglob("*.log") if "tiny-qwen-m@teacher-cot" in str(p)]
    # the stage logs one line as it starts (alice_w2s.runner.run_stage)
    assert len(re.findall(r"INFO rule cluster: ", log.read_text())) == 1, log.read_text()[-3000:]


def test_preempted_job_is_requeued_and_finishes(runs):
    """The sampling job, requeued while it ran (as preemption does), ran again under
    the same SLURM job id (profiles/slurm sets slurm-requeue), and Snakemake waited
    for it: the run finished, and its samples equal the local run's
    (test_outputs_match_a_local_run)."""
    on_slurm, _, (requeued, restarts) = runs
    assert requeued is not None, "the sampling job was never seen running"
    assert restarts == 1  # SLURM started it a second time
    assert _manifests(on_slurm)[RERUN_ON_SLURM[0]]["scheduler"]["slurm_job_id"] == requeued
