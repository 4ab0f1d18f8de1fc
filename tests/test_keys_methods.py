"""A new method is one entry in plan.METHODS: the rules ask plan what a key means,
so a checkout whose plan.py alone gains an Alice-like method plans its jobs."""

import os
import subprocess
import sys

from snakemake_runner import ROOT, copy_checkout, job_counts, planned_jobs

NEW_RECIPE = (
    "\n# a test method: Alice's synthesis, taught by Q-A teachers, without uncertainty\n"
    'METHODS["alice-qa"] = Method("synthesized", "student", "teacher-qa", several_teachers=True)\n'
)
TABLE = """
tables:
  tablenew:
    datasets: [toy_math]
    blocks:
      - name: b
        rows:
          - {label: new, model: tiny-qwen-s~tiny-qwen-m~tiny-qwen-l@alice-qa}
"""


def test_a_method_added_in_plan_alone_plans_its_jobs(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    (checkout / "src" / "alice_w2s" / "plan.py").write_text((ROOT / "src/alice_w2s/plan.py").read_text() + NEW_RECIPE)
    overlay = tmp_path / "table.yaml"
    overlay.write_text(TABLE)
    # the copy's package, not the installed one, is what its Snakefile imports
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(checkout / "src")}
    command = [sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile"), "-d", str(checkout), "-n", "tablenew",
               "--configfile", str(checkout / "config" / "toy.yaml"), str(overlay)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = job_counts(result.stdout)
    # link 1 (sliced from the direct pair's synthesis) and link 2; Q-A teacher: no CoT
    assert counts["synthesize"] == 2 and counts["slice_labels"] == 1 and "cot_filter" not in counts
    assert "summarize_uncertainty" not in counts  # the method shows no uncertainty
    jobs = planned_jobs(result.stdout)
    outputs = {j["rule"]: [] for j in jobs}
    for job in jobs:
        outputs[job["rule"]] += job["output"]
    assert sorted(outputs["synthesize"]) == [
        "results/labels/toy_math/synthesized/tiny-qwen-s~tiny-qwen-m@alice-qa.parquet",
        "results/labels/toy_math/synthesized/tiny-qwen-s~tiny-qwen-m~tiny-qwen-l@alice-qa.parquet",
    ]
    assert outputs["slice_labels"] == ["results/labels/toy_math/sliced/tiny-qwen-s~tiny-qwen-m@alice-qa.c2.parquet"]
    assert "results/models/toy_math/tiny-qwen-s@teacher-qa" in outputs["sft"]
