"""What a generating stage does around its backend: open the generator the
rule's params name (resumable, in shards), build the sampling settings, count
tokens. Only scripts that generate text import this module (and with it the
generation backend), so a change to the backend reruns only jobs that generate."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from alice_w2s.backends.generation import Generator, Sampling, open_generator
from alice_w2s.backends.sharded import ShardedGenerator, folder_fingerprint, shard_dir_for

log = logging.getLogger("alice_w2s")
T = TypeVar("T")


def sampling_from(settings: dict, seed: int, n: int = 1) -> Sampling:
    return Sampling(
        temperature=float(settings["temperature"]),
        top_p=float(settings["top_p"]),
        max_new_tokens=int(settings["max_new_tokens"]),
        n=n,
        seed=seed,
    )


def job_backend(generation: dict, model: dict) -> str:
    """The backend a generating job runs: a served model's server (models.<name>.source:
    served) whatever the stage's backend, else the stage's (its ``generation`` param).
    The code identity of the job (rules/common.smk) asks this too."""
    return "served" if model.get("source") == "served" else generation["backend"]


def open_stage_generator(params: Any, output: str, model: dict | None = None) -> ShardedGenerator:
    """The rule's backend on its model, behind shard-by-shard persistence beside
    ``output`` (the job's first output). The model is loaded only when a shard is
    missing; call ``discard()`` once ``output`` is written."""
    model = model or params.model
    generation = params.generation
    backend, location = job_backend(generation, model), model.get("path")
    options = {**generation["options"], "seed": params.seed}
    if backend == "served":
        # An OpenAI-compatible server; only the key's variable NAME travels, never the key.
        location = model["url"]
        options = {k: model.get(k) for k in ("model", "api_key_env", "client")} | {"seed": params.seed}
    if model.get("revision"):
        options["revision"] = model["revision"]

    def open_backend() -> Generator:
        log.info("opening %s generator on %s", backend, location)
        return open_generator(backend, location, options)

    identity = {
        "backend": backend,
        "options": options,
        "model": {**model, "files": folder_fingerprint(location)},
        # the rule's code param (Snakefile): its script and every package module it
        # runs, the backend included, so shards of older code are never reused
        "code": getattr(params, "code", None),
    }
    return ShardedGenerator(
        open_backend,
        shard_dir_for(output),
        identity,
        int(generation["shard_size"]),
        seeds_per_request=backend in ("vllm", "served"),
    )


def generate_then_write(
    params: Any, output: str, generate: Callable[[ShardedGenerator], T], write: Callable[[T], None]
) -> tuple[T, dict]:
    """A generating stage's sequence, in one place: open the rule's generator
    (resumable shards beside ``output``, the job's first output), ``generate`` with
    it, close it (the model's memory is freed before writing), ``write`` the outputs,
    and only then discard the shards, so a crash before the outputs are whole resumes
    from them. Returns what ``generate`` returned and the shard counts (manifest only)."""
    generator = open_stage_generator(params, output)
    produced = generate(generator)
    generator.close()
    write(produced)
    generator.discard()
    return produced, generator.stats()


def generation_stats(result: Any) -> dict:
    """Token counts and time; the share of responses cut by max_new_tokens (a high
    share means answers lost their final line); prompts too long for the context."""
    if result is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "generation_seconds": 0.0,
                "length_stopped_share": 0.0, "skipped_prompts": 0}
    responses = sum(len(texts) for texts in result.texts)
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "generation_seconds": round(result.seconds, 3),
        "length_stopped_share": result.length_stopped / responses if responses else 0.0,
        "skipped_prompts": result.skipped_prompts,
    } | _served_model(result)


def _served_model(result: Any) -> dict:
    """What the server reported serving (served backend only), once per distinct answer."""
    seen = {json.dumps(m, sort_keys=True): m for m in getattr(result, "served_model", [])}
    return {"served_model": list(seen.values())} if seen else {}
