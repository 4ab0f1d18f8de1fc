"""Part of the embedded default through profiles/slurm on a real single-node
SLURM started on this machine (scripts/slurm_local.sh, fake GPUs). Skipped, with
the reason, where the SLURM binaries are missing; CI installs them."""

import json
import os
import shutil
import subprocess

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
    "results/labels/toy_trivia/tiny-qwen-m~tiny-qwen-l@alice.parquet.manifest.json",
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
    started = subprocess.run(["bash", str(ROOT / "scripts" / "slurm_local.sh"), "2"], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr


@pytest.fixture(scope="module")
def runs(cluster, embedded_run, tmp_path_factory):
    """In a copy of the session's finished local run, the teacher's sampling and
    everything after it redone through SLURM. SLURM thus runs a GPU-requesting
    generation job (sample), clustering, the summary, the synthesis, a GPU SFT job,
    evaluation and the table, and its outputs can be compared with the local ones."""
    local = embedded_run
    on_slurm = tmp_path_factory.mktemp("on_slurm") / "checkout"
    shutil.copytree(local, on_slurm, symlinks=True)  # results and .snakemake metadata, mtimes kept
    profile = on_slurm / "profiles" / "test"
    shutil.copytree(ROOT / "profiles" / "slurm", profile)
    # The local cluster has no accounting (sacct) and no account to charge.
    with (profile / "config.yaml").open("a") as handle:
        handle.write("slurm-no-account: true\nslurm-status-command: squeue\nslurm-init-seconds-before-status-checks: 2\n")
    # The overlay only asks for (fake) GPUs: no job's settings change, so only the
    # forced job and what depends on it rerun.
    config = ["--configfile", str(on_slurm / "config" / "config.yaml"), str(ROOT / "tests" / "slurm_overlay.yaml")]
    result = snakemake(
        on_slurm, TARGET, *config, "--forcerun", SAMPLES, "--workflow-profile", str(profile), timeout=1800, checkout=on_slurm
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return on_slurm, local


def _manifests(checkout):
    return {
        str(path.relative_to(checkout)): json.loads(path.read_text())
        for path in (checkout / "results").rglob("*manifest.json")
    }


def test_jobs_ran_as_slurm_jobs_with_gpu_requests(runs):
    on_slurm, local = runs
    manifests = _manifests(on_slurm)
    job_ids = [manifests[path]["scheduler"]["slurm_job_id"] for path in RERUN_ON_SLURM]
    assert None not in job_ids and len(set(job_ids)) == len(RERUN_ON_SLURM)  # one SLURM job each
    sample = manifests[RERUN_ON_SLURM[0]]
    assert sample["scheduler"]["cuda_visible_devices"] is not None  # it asked for, and got, a GPU
    assert sample["params"]["generation"]["backend"] == "vllm"
    sft = manifests[RERUN_ON_SLURM[4]]
    assert sft["scheduler"]["cuda_visible_devices"] is not None
    assert manifests[RERUN_ON_SLURM[-1]]["scheduler"]["cuda_visible_devices"] is None  # the table asks for none
    # What did not depend on the samples was not redone; the local run had no SLURM.
    assert manifests["results/data/toy_trivia/eval.parquet.manifest.json"]["scheduler"]["slurm_job_id"] is None
    assert manifests["results/samples/toy_trivia/tiny-qwen-s@teacher-cot/all.parquet.manifest.json"]["scheduler"]["slurm_job_id"] is None
    assert all(m["scheduler"]["slurm_job_id"] is None for m in _manifests(local).values())


def test_outputs_match_a_local_run(runs):
    on_slurm, local = runs
    table_slurm = pd.read_csv(on_slurm / TARGET).drop(columns=["source"])
    table_local = pd.read_csv(local / TARGET).drop(columns=["source"])
    pd.testing.assert_frame_equal(table_slurm, table_local)
    for rel in ("samples/toy_trivia/tiny-qwen-m@teacher-cot/all.parquet", "labels/toy_trivia/tiny-qwen-m~tiny-qwen-l@alice.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(on_slurm / "results" / rel), pd.read_parquet(local / "results" / rel))
