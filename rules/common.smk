# Config validation, paths and input functions shared by all rules.
import os
import sys
from pathlib import Path

from alice_w2s import plan
from alice_w2s.config import ConfigError, load_yaml, merge_config, validate
from alice_w2s.datasets.registry import get_spec


# The embedded default applies only when no --configfile was given: merging it
# under config/paper.yaml would leak tiny models and toy data into the paper grid.
if "models" not in config:
    config.update(merge_config(load_yaml(os.path.join(workflow.basedir, "config", "config.yaml")), dict(config)))

try:
    config.update(validate(config))
except ConfigError as err:
    # One line, before any job runs.
    sys.exit(f"error: {err}")

R = config["results"]
# Nothing in a fully local config needs the hub: fail fast instead of trying it.
if all(m["source"] != "hub" for m in config["models"].values()) and all(
    d["source"] != "hub" for d in config["datasets"].values()
):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODELS = config["models"]
EMBEDDED = [name for name, m in MODELS.items() if m["source"] == "embedded"]
MODEL_NAME = plan.MODEL_NAME_RE
ALICE_KEY = rf"{MODEL_NAME}(?:~{MODEL_NAME})+@alice(?:\.c\d+)?"


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    name=MODEL_NAME,
    pool=r"all|s\d+of\d+",
    teacher=r"[^/]+",
    key=r"[^/]+",


def data_path(part):
    return f"{R}/data/{{dataset}}/{part}.parquet"


def embedded_model_dirs():
    return [f"{R}/base_models/{name}" for name in EMBEDDED]


def model_files(dataset, key):
    """Files a job needs to load model `key` (empty for hub models)."""
    parsed = plan.parse_key(key)
    if not parsed.is_base:
        return [f"{R}/models/{dataset}/{key}"]
    if MODELS[parsed.name]["source"] == "embedded":
        return [f"{R}/base_models/{parsed.name}"]
    return []


def model_location(dataset, key):
    """What the backends load for `key`: a folder or a hub id (with revision)."""
    parsed = plan.parse_key(key)
    if not parsed.is_base:
        return {"path": f"{R}/models/{dataset}/{key}", "revision": None}
    model = MODELS[parsed.name]
    if model["source"] == "embedded":
        return {"path": f"{R}/base_models/{parsed.name}", "revision": None}
    return {"path": model["path"], "revision": model.get("revision")}


def generation_params(stage):
    """The backend a generating stage uses and only that backend's options."""
    settings = config["stages"][stage]
    backend = settings["backend"] or config["generation"]["backend"]
    return {"backend": backend, "options": config["generation"][backend]}


def dataset_kind(wildcards):
    return config["datasets"][wildcards.dataset]["kind"]


def prompt_params():
    return {"directory": config["prompts"]["directory"], "overrides": config["prompts"]["overrides"]}


def training_set(dataset, key):
    """The labels file a trained model `key` is fine-tuned on."""
    parsed = plan.parse_key(key)
    if parsed.recipe == "teacher-cot":
        return f"{R}/labels/{dataset}/{key}.parquet"
    if parsed.recipe in ("teacher-qa", "gold"):
        return f"{R}/labels/{dataset}/_{parsed.recipe}.parquet"
    if parsed.recipe.startswith("w2s-"):
        return f"{R}/w2s_answers/{dataset}/{plan.teacher_of(parsed)}/{parsed.pool}.parquet"
    return f"{R}/labels/{dataset}/{key}.parquet"


def dataset_spec(dataset):
    return get_spec(config["datasets"][dataset]["kind"])


def gpus_for(key):
    """GPUs a job on model `key` asks for: none for embedded models (CPU)."""
    model = MODELS[plan.parse_key(key).name]
    return 0 if model["source"] == "embedded" else model["gpus"]


def cot_model_inputs(wildcards):
    if dataset_spec(wildcards.dataset).has_human_cot:
        return []  # GSM8K-like: the human worked solutions, no generation
    return model_files(wildcards.dataset, wildcards.name)


def synthesis_inputs(wildcards):
    key = plan.parse_key(wildcards.key)
    teacher = plan.teacher_of(key)
    return {
        "transfer": data_path("transfer").format(dataset=wildcards.dataset),
        "uncertainty": f"{R}/uncertainty/{wildcards.dataset}/{teacher}/{key.pool}.parquet",
        "zeroshot": f"{R}/zeroshot/{wildcards.dataset}/{key.name}/{key.pool}.parquet",
        "model": model_files(wildcards.dataset, key.name),
    }
