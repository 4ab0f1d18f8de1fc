"""What a validated config means for one job: a role's SFT recipe, a model's GPUs,
what a served model is to the workflow, a generating stage's backend and options, a
dataset's split sizes. The rules and the
preflight ask these; ``alice_w2s.config`` loads and validates the config."""

from __future__ import annotations


def sft_recipe(config: dict, role: str) -> dict:
    """The SFT settings of a role (teacher, baseline, student): ``sft`` with the
    role's overrides from ``sft.roles`` on top."""
    recipe = {k: v for k, v in config["sft"].items() if k != "roles"}
    return {**recipe, **config["sft"]["roles"].get(role, {})}


def is_served(model: dict) -> bool:
    """The model (its config entry) answers from an OpenAI-compatible server
    (`source: served`): the workflow builds, loads and places nothing for it. The jobs
    reach it through ``stage_generation.job_backend``."""
    return model["source"] == "served"


def served_location(model: dict, config: dict) -> dict:
    """What a job gets to reach a served model: its URL, served name and the NAME of
    the variable holding its API key (never the key), with the HTTP client settings."""
    served = {k: model.get(k) for k in ("url", "model", "api_key_env")}
    return {"source": "served", **served, "revision": None, "client": config["generation"]["served"]}


def model_gpus(model: dict, training: bool = False) -> int:
    """GPUs a job on this model (its config entry) asks for: `gpus` to generate,
    `sft_gpus` (default `gpus`) to train; 0 (CPU) to generate on a served model,
    whose server holds the GPUs."""
    if is_served(model) and not training:
        return 0
    if training and model.get("sft_gpus") is not None:
        return model["sft_gpus"]
    return model["gpus"]


def stage_engine(config: dict, stage: str, gpus: int) -> tuple[str, dict]:
    """The backend a generating stage uses and that backend's options: for vLLM the
    stage's own `stages.<stage>.vllm` over `generation.vllm` (e.g. the summarizer's
    longer context), split over the job's GPUs (tensor parallel)."""
    backend = config["stages"][stage]["backend"] or config["generation"]["backend"]
    options = dict(config["generation"][backend])
    if backend == "vllm":
        options.update(config["stages"][stage].get("vllm") or {})
        options["tensor_parallel_size"] = max(1, gpus, options["tensor_parallel_size"])
    return backend, options


def split_sizes(n_train: int, dataset: dict) -> tuple[int, int]:
    """Teacher and transfer rows of a train split of ``n_train`` records, as prepared."""
    import pandas as pd

    from alice_w2s.datasets.prepare import split_train

    teacher, transfer = split_train(pd.DataFrame(index=range(n_train)), dataset)
    return len(teacher), len(transfer)
