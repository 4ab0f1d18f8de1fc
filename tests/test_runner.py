"""run_stage, the wrapper around every workflow script: threads, imports, room for a model."""

import json
import os
import shutil
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


ROOM = textwrap.dedent(
    """
    import os, sys
    from types import SimpleNamespace
    from alice_w2s.runner import run_stage

    out, needed_mb = sys.argv[1], int(sys.argv[2])
    resources = SimpleNamespace(model_folder_mb=needed_mb)
    smk = SimpleNamespace(log=[], threads=1, rule="sft", wildcards={}, params={}, input=[], output=[out], resources=resources)

    def body(smk):
        os.makedirs(out)
        return {}

    run_stage(smk, body, lazy_torch=True)
    """
)


def test_a_job_whose_model_folder_cannot_fit_stops_before_it_works(tmp_path: Path) -> None:
    # model_folder_mb: the weights the job will save (rules/common.smk); the output's
    # folder need not exist yet: the nearest existing one's disk counts.
    out = tmp_path / "models" / "m@gold"
    free_mb = shutil.disk_usage(tmp_path).free // 10**6
    too_big = subprocess.run([sys.executable, "-c", ROOM, str(out), str(2 * free_mb)], capture_output=True, text=True)
    assert too_big.returncode == 1
    line = too_big.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error in rule sft: {out} needs ~{2 * free_mb / 1e3:.1f} GB"), line
    # the folder checked: the nearest that exists (free space moves: its figure is not compared)
    assert f"(resources.model_folder_mb), and {tmp_path} has " in line, line
    assert line.endswith(" GB free: free some space first"), line
    assert not out.exists()
    fits = subprocess.run([sys.executable, "-c", ROOM, str(out), "1"], capture_output=True, text=True)
    assert fits.returncode == 0, fits.stderr[-2000:]
    assert out.is_dir()


def test_an_output_path_it_cannot_look_at_is_not_checked(tmp_path: Path) -> None:
    # A symlink loop (or a folder it may not read) is no reason to stop a job: the
    # check steps aside, and the job's own writes say what is wrong.
    from types import SimpleNamespace

    from alice_w2s.runner import _check_room

    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    looped = SimpleNamespace(output=[str(tmp_path / "a" / "m@gold")], resources=SimpleNamespace(model_folder_mb=10**12))
    _check_room(looped)
    # an output it can look at is still checked
    plain = SimpleNamespace(output=[str(tmp_path / "m@gold")], resources=SimpleNamespace(model_folder_mb=10**12))
    with pytest.raises(ValueError, match="GB free: free some space first"):
        _check_room(plain)
