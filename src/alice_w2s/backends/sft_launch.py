"""What an SFT job does with its training set, and how several processes train it.

``fine_tune`` keeps the labelled pairs, stops on too few, passes the base model
through when there are none, keeps the effective batch on any number of GPUs and
starts ``train_sft`` in one process or, through ``accelerate launch``, one per GPU.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alice_w2s.backends.sft import Recipe, train_sft
from alice_w2s.effective_batch import accumulation_steps
from alice_w2s.io import atomic_dir

EXPANDABLE_SEGMENTS = "expandable_segments:True"


def prefer_expandable_segments() -> None:
    """Have PyTorch's CUDA allocator grow segments instead of caching fixed blocks, in
    this process and the training processes it starts, unless the user set the
    allocator. Batches of different lengths fragment the default allocator: measured
    on an H200 (benchmarks/gpu_sft_memory.py, docs/gpu-and-slurm.md "Verified on a GPU"), a Qwen2.5-1.5B
    LoRA job reserved 36.7 GiB for 18.7 allocated, and stalls of ~2 s (most likely the
    allocator freeing its cache and retrying; not profiled) took half the training time
    of a 0.5B job; with expandable segments 21.4 GiB and no stalls. No effect without a GPU."""
    if "PYTORCH_ALLOC_CONF" not in os.environ:  # the newer name, read first by torch >= 2.9
        os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", EXPANDABLE_SEGMENTS)


def fine_tune(
    pairs: list[tuple[str, str | None]],
    base_model: str,
    out_dir: str | Path,
    settings: Mapping[str, Any],
    seed: int,
    processes: int,
    source: str,
) -> dict[str, Any]:
    """What an SFT job does with its (prompt, label) pairs, read from ``source``:

    - a pair whose label is missing or blank is no example;
    - fewer examples than ``settings["min_examples"]`` stop the job;
    - no example at all (allowed only with ``min_examples: 0``, the embedded
      default) trains nothing: the base model is copied through unchanged;
    - otherwise ``processes`` data-parallel processes (one per GPU) train it, with the
      gradient accumulation that keeps the configured ``effective_batch_size``.

    ``settings`` is the role's SFT recipe from the config (``Recipe`` keys plus
    ``min_examples`` and ``effective_batch_size``)."""
    examples = [(prompt, label) for prompt, label in pairs if isinstance(label, str) and label.strip()]
    settings = dict(settings)
    min_examples = settings.pop("min_examples")
    if len(examples) < min_examples:
        raise ValueError(f"{source}: {len(examples)} training examples, fewer than sft.min_examples={min_examples}")
    if not examples:
        logging.getLogger("alice_w2s").warning("no training examples in %s: passing the base model through", source)
        with atomic_dir(out_dir) as tmp:
            shutil.copytree(base_model, tmp, dirs_exist_ok=True)
        return {"n_examples": 0, "passthrough": True}
    prefer_expandable_segments()
    processes = max(1, int(processes))
    effective = settings.pop("effective_batch_size")
    settings["gradient_accumulation_steps"] = accumulation_steps(effective, settings["per_device_batch_size"], processes)
    recipe = Recipe.from_dict({**settings, "seed": seed})
    return train_sft_launched(examples, base_model, out_dir, recipe, processes=processes)


# --- several processes (GPUs) ---------------------------------------------------------


def train_sft_launched(
    examples: list[tuple[str, str]], base_model: str, out_dir: str | Path, recipe: Recipe, processes: int, cpu: bool = False
) -> dict:
    """``train_sft`` in ``processes`` data-parallel processes through ``accelerate
    launch`` (one per GPU; ``cpu=True`` runs them on the CPU, for tests). With one
    process it trains in this process."""
    if processes <= 1:
        return train_sft(examples, base_model, out_dir, recipe)
    import dataclasses
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="alice-sft-") as scratch:
        spec_path, stats_path = Path(scratch) / "spec.json", Path(scratch) / "stats.json"
        spec = {
            "examples": examples,
            "base_model": base_model,
            "out_dir": str(out_dir),
            "recipe": dataclasses.asdict(recipe),
            "stats_path": str(stats_path),
        }
        spec_path.write_text(json.dumps(spec))
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
        # torchrun in both cases: `accelerate launch --cpu` would start one process only.
        command += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        command += ["-m", "alice_w2s.backends.sft_launch", str(spec_path)]
        env = {**os.environ, "ACCELERATE_USE_CPU": "true"} if cpu else None  # gloo instead of NCCL
        subprocess.run(command, check=True, env=env)
        return {**json.loads(stats_path.read_text()), "processes": processes}


def _launched_main(spec_path: str) -> None:
    """Entry point of each process started by ``train_sft_launched``."""
    import json

    spec = json.loads(Path(spec_path).read_text())
    examples = [tuple(pair) for pair in spec["examples"]]
    stats = train_sft(examples, spec["base_model"], spec["out_dir"], Recipe(**spec["recipe"]))
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        Path(spec["stats_path"]).write_text(json.dumps(stats))


if __name__ == "__main__":
    import sys

    _launched_main(sys.argv[1])
