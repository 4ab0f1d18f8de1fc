"""run_stage, the wrapper around every workflow script: threads and imports."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from types import SimpleNamespace
    from alice_w2s.runner import run_stage

    out = sys.argv[1]
    smk = SimpleNamespace(log=[], threads=1, rule="probe", wildcards={}, params={}, input=[], output=[out])

    def body(smk):
        before = "torch" in sys.modules
        import torch  # what a generating or training stage does lazily

        open(out, "w").write("x")
        return {"torch_before_body": before, "torch_threads": torch.get_num_threads()}

    run_stage(smk, body)
    """
)


def test_a_job_gets_its_thread_share_without_the_wrapper_importing_torch(tmp_path: Path) -> None:
    # Two cores here, so torch's default would be 2: the job's `threads` (1) must win,
    # and a stage that never touches torch (tables, labels) must not pay its import.
    out = tmp_path / "probe.txt"
    subprocess.run([sys.executable, "-c", SCRIPT, str(out)], check=True, capture_output=True, text=True)
    stats = json.loads((tmp_path / "probe.txt.manifest.json").read_text())["stats"]
    assert stats == {"torch_before_body": False, "torch_threads": 1}
