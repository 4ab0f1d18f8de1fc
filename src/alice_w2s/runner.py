"""What every workflow script does around its stage: log to the rule's log file,
turn user-caused errors into one line, time the work and write the manifests.

Scripts stay thin::

    from alice_w2s.runner import run_stage
    def main(smk): ...; return stats
    if __name__ == "__main__":   # vLLM spawns workers: guard the entry point
        run_stage(snakemake, main)
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alice_w2s.io import write_manifest

# Code identity (alice_w2s.fingerprint): `plain` shapes the settings jobs run with and
# `_limit_threads` the thread count (CPU floating-point sums depend on it); the rest
# (logging, one-line errors, timing, manifests) is bookkeeping and reruns no job.
OUTPUT_CODE = ("plain", "_limit_threads")

log = logging.getLogger("alice_w2s")
# Tracebacks go to the rule's log file only; the console gets one line.
trace = logging.getLogger("alice_w2s.trace")

# Errors a user can cause (bad config, bad data, missing files): one line, no traceback.
USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def _configure_logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True)
    trace.propagate = False
    trace.handlers = handlers[1:]


def plain(value: Any) -> Any:
    """Snakemake Namedlists and friends as plain JSON-able values."""
    if hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _limit_threads(threads: int, lazy_torch: bool) -> None:
    """Keep torch to the job's share of cores: two jobs on two cores must not both take two.

    A stage that imports torch late or never (tables, labels, clustering) gets the
    limit through OMP_NUM_THREADS, which torch reads when it loads, and saves the ~3 s
    import. The others import torch here and set it in-process only: an environment
    variable would pass the job's whole share to every worker process it starts
    (accelerate/torchrun, vLLM), which otherwise default to one thread each."""
    threads = max(1, threads)
    if lazy_torch:
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(threads)
        if "torch" not in sys.modules:
            return
    import torch

    torch.set_num_threads(threads)


def _check_room(smk: Any) -> None:
    """Stop a job that writes a model folder before it works, not when it saves: the
    weights it will write (its ``model_folder_mb`` resource, rules/common.smk) against
    the free space where its output goes. The weights come from the model's nominal
    ``size_b`` (0 if the config gives none: not checked), so a folder can be some
    percent larger. Each job checks alone: two jobs starting together can each count
    the same free space."""
    needed_mb = getattr(getattr(smk, "resources", None), "model_folder_mb", None)
    if not needed_mb:
        return
    for output in smk.output:
        try:
            place = Path(output).resolve()
            while not place.exists():  # its folder may not be made yet
                place = place.parent
            free = shutil.disk_usage(place).free
        except (OSError, RuntimeError):  # a path it may not look at, a symlink loop
            continue  # not checked: the job's own writes will say what is wrong
        if free < needed_mb * 1e6:
            raise ValueError(
                f"{output} needs ~{needed_mb / 1e3:.1f} GB for the model's weights "
                f"(resources.model_folder_mb), and {place} has {free / 1e9:.1f} GB free: free some space first"
            )


def run_stage(smk: Any, body: Callable[[Any], dict], lazy_torch: bool = False) -> None:
    """Run a workflow script's ``body``. ``lazy_torch``: the stage imports torch only
    where it needs it (maybe never) and starts no worker processes."""
    _configure_logging(smk.log[0] if len(smk.log) else None)
    _limit_threads(smk.threads, lazy_torch)
    started = time.time()
    log.info("rule %s: %s", smk.rule, ", ".join(f"{k}={v}" for k, v in smk.wildcards.items()))
    try:
        _check_room(smk)
        stats = body(smk) or {}
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        trace.error("%s failed", smk.rule, exc_info=True)
        log.error("%s failed: %s", smk.rule, message)
        sys.exit(f"error in rule {smk.rule}: {message}")
    except Exception:
        # A bug, not a user error: keep the traceback in the rule's log too.
        trace.error("%s failed", smk.rule, exc_info=True)
        raise
    log.info("done in %.1fs: %s", time.time() - started, stats)
    params = {k: plain(v) for k, v in smk.params.items()}
    for output in smk.output:
        write_manifest(output, params=params, stats=stats, started=started, inputs=[str(i) for i in smk.input])
