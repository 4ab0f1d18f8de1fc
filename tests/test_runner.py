"""run_stage, the wrapper around every workflow script: threads and imports."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from types import SimpleNamespace
    from alice_w2s.runner import run_stage

    out, lazy = sys.argv[1], sys.argv[2] == "lazy"
    smk = SimpleNamespace(log=[], threads=1, rule="probe", wildcards={}, params={}, input=[], output=[out])

    def body(smk):
        before = "torch" in sys.modules
        import torch  # what a clustering stage does lazily

        open(out, "w").write("x")
        return {"torch_before_body": before, "torch_threads": torch.get_num_threads(),
                "inherited_by_workers": os.environ.get("OMP_NUM_THREADS")}

    run_stage(smk, body, lazy_torch=lazy)
    """
)


@pytest.mark.parametrize("mode", ["lazy", "eager"])
def test_a_job_gets_its_thread_share(tmp_path: Path, mode: str) -> None:
    # Two cores here, so torch's default would be 2: the job's `threads` (1) must win.
    # A lazy stage (tables, labels) must not pay torch's import up front; an eager one
    # (training, generation) must not pass its share to the worker processes it starts.
    out = tmp_path / "probe.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    subprocess.run([sys.executable, "-c", SCRIPT, str(out), mode], check=True, capture_output=True, text=True, env=env)
    stats = json.loads((tmp_path / "probe.txt.manifest.json").read_text())["stats"]
    if mode == "lazy":
        assert stats == {"torch_before_body": False, "torch_threads": 1, "inherited_by_workers": "1"}
    else:
        assert stats == {"torch_before_body": True, "torch_threads": 1, "inherited_by_workers": None}
