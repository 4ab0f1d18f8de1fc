# Glue shared by all rules: config validation and preflight at parse time, the input
# functions of alice_w2s.job_paths with wildcards in, params and resource requests.
import os
import sys
from pathlib import Path

from alice_w2s import pipeline, plan
from alice_w2s.job_paths import JobPaths
from alice_w2s.config import ConfigError, check_prompt_overrides, load_schema, resolve_config, validate
from alice_w2s.run_settings import model_gpus, stage_engine
from alice_w2s.run_settings import sft_recipe as config_sft_recipe
from alice_w2s.datasets.registry import REGISTRY
from alice_w2s.preflight import model_folder_mb, preflight_or_exit
from alice_w2s.provenance import run_info
from alice_w2s.fingerprint import code_fingerprint, file_digest
from alice_w2s.stage_generation import job_backend
from alice_w2s.tracking import track
from alice_w2s import model_sources
from importlib import metadata

try:
    # The embedded default applies only when no --configfile was given: merging it
    # under config/paper.yaml would leak its models and toy data into the paper grid.
    _resolved = resolve_config(
        dict(config), workflow.config_settings.configfiles, os.path.join(workflow.basedir, "config", "config.yaml")
    )
    _validated = validate(_resolved, load_schema())
    config.clear()  # in canonical key order, so params do not depend on how the file was written
    config.update(_validated)
except ConfigError as err:
    # One line, before any job runs.
    sys.exit(f"error: {err}")
# What the plan asks of the GPUs (memory, context, clustering), before any job runs.
preflight_or_exit(config)
# What was run, for the report's front page (resources/report/workflow.rst) and the
# export's config.yaml: the checkout's commit and the config files given.
config["_run"] = run_info(workflow.basedir, workflow.config_settings.configfiles)

R = config["results"]
# Nothing in a fully local config needs the hub: fail fast instead of trying it.
if all(m["source"] != "hub" for m in config["models"].values()) and all(
    d["source"] != "hub" for d in config["datasets"].values()
):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODELS = config["models"]
TINY = [name for name, m in MODELS.items() if m["source"] == "tiny"]
# The toy kinds the tiny models' tokenizer corpus and warm-up draw from.
WARMUP_KINDS = sorted(kind for kind, spec in REGISTRY.items() if spec.warmup_corpus)
TINY_ARCH_KEYS = ("arch", "hidden_size", "num_heads", "num_layers", "intermediate_size", "warmup_steps")
MODEL_NAME = plan.MODEL_NAME_RE


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    name=MODEL_NAME,
    pool=r"all|s\d+of\d+",
    teacher=r"[^/]+",
    key=r"[^/]+",


# Paths and input functions: alice_w2s.job_paths, wrapped for Snakemake (wildcards in).
PATHS = JobPaths(config)
data_path = PATHS.data
stage_output = PATHS.output
stage_outputs = PATHS.outputs
base_model_dir = PATHS.base_model_dir
model_files = PATHS.model_files
model_location = PATHS.model_location
training_set = PATHS.training_set
dataset_spec = PATHS.dataset_spec
# the seed a job on a model key (or seeded base name) runs with
job_seed = PATHS.run_seed


def tiny_model_dirs():
    return [base_model_dir(name) for name in TINY]


def teacher_qa_inputs(wildcards):
    return PATHS.teacher_qa_inputs(wildcards.dataset, wildcards.name)


def cot_model_inputs(wildcards):
    return PATHS.cot_model(wildcards.dataset, wildcards.name)


def synthesis_inputs(wildcards):
    return PATHS.synthesis_inputs(wildcards.dataset, wildcards.key)


def label_quality_inputs(wildcards):
    return PATHS.label_quality_inputs(wildcards.dataset, wildcards.key)


def table_evaluations(wildcards):
    return PATHS.table_inputs(wildcards.table)


def generation_params(rule, key_of):
    """The backend a generating stage uses and only that backend's options
    (alice_w2s.run_settings.stage_engine, from the stage's `stages.<rule>` entry).
    `shard_size`: prompts per resumable shard (alice_w2s.backends.sharded)."""
    if not pipeline.stage(rule).generates:
        raise ValueError(f"{rule} in rules/: its stage in alice_w2s.pipeline generates nothing")

    def params(wildcards):
        backend, options = stage_engine(config, rule, gpus_for(key_of(wildcards)))
        return {"backend": backend, "options": options, "shard_size": config["generation"]["shard_size"]}

    return params


def dataset_kind(wildcards):
    return config["datasets"][wildcards.dataset]["kind"]


def check_stage(rule):
    """A script rule must be a stage of alice_w2s.pipeline, run the script of its
    name, and have generation params exactly when its stage generates text."""
    try:
        stage = pipeline.stage(rule.name)
    except ValueError as err:
        sys.exit(f"error: {rule.name} in rules/: {err}")
    if Path(rule.script).name != f"{rule.name}.py":
        sys.exit(f"error: {rule.name} in rules/ runs {rule.script}, not workflow/scripts/{rule.name}.py")
    if stage.generates != hasattr(rule.params, "generation"):
        sys.exit(f"error: {rule.name} in rules/: generation params in a stage that generates nothing, or the reverse")


def code_identity(rule):
    """A script rule's `code` param: per job, alice_w2s.fingerprint's hash of the
    script and the package code it runs on the job's dataset kind (for a job
    without a dataset, the kinds of its `kinds` param, else every kind) under the
    backend it generates with (stage_generation.job_backend, from its `generation`
    and `model` params; any backend without them)."""
    script = rule.basedir.join(rule.script).get_path_or_uri(secret_free=True)
    generation = getattr(rule.params, "generation", None)
    model = getattr(rule.params, "model", None)
    kinds = getattr(rule.params, "kinds", None)

    def code(wildcards):
        on = (dataset_kind(wildcards),) if "dataset" in wildcards.keys() else kinds and tuple(kinds)
        engine = generation(wildcards) if callable(generation) else None
        location = model(wildcards) if callable(model) else None
        backend = job_backend(engine, location) if engine and location else None
        return code_fingerprint(script, PACKAGE_DIR, on, backend)

    return code


# The prompt folder: config `prompts.directory`, relative to the workflow's folder
# unless absolute. Templates are hashed from it here (prompt_params), and the jobs
# render them from the same folder, which they get as a param relative to their
# working directory (as every path they get): "resources/prompts" when Snakemake
# runs in the workflow's folder, so moving a checkout with its results reruns nothing.
PROMPT_DIR = os.path.join(workflow.basedir, config["prompts"]["directory"])
PROMPT_DIR_PARAM = (
    config["prompts"]["directory"] if os.path.isabs(config["prompts"]["directory"]) else os.path.relpath(PROMPT_DIR)
)
PACKAGE_DIR = os.path.join(workflow.basedir, "src", "alice_w2s")
try:
    check_prompt_overrides(PROMPT_DIR, config["prompts"]["overrides"])
except ConfigError as err:
    sys.exit(f"error: {err}")


# The templates the tiny models' tokenizer and warm-up text are rendered with.
QUESTION_TEMPLATES = sorted(f"question/{p.name}" for p in Path(PROMPT_DIR, "question").glob("*.txt"))


def template_file(name):
    return config["prompts"]["overrides"].get(name, os.path.join(PROMPT_DIR, name))


def prompt_params(*names):
    """Prompt settings for one rule, limited to its own templates, each with a hash
    of its contents, so editing one template reruns only the rules that render it.
    Names may hold `{answer_type}`, filled from the dataset's registry entry."""

    def params(wildcards):
        answer_type = dataset_spec(wildcards.dataset).answer_type if "dataset" in wildcards.keys() else None
        used = [n.format(answer_type=answer_type) for n in names]
        return {
            "directory": PROMPT_DIR_PARAM,
            "overrides": {n: config["prompts"]["overrides"][n] for n in used if n in config["prompts"]["overrides"]},
            "digest": {n: file_digest(template_file(n)) for n in used},
        }

    return params


def stage_prompts(rule):
    """prompt_params of the templates `rule`'s stage renders (alice_w2s.pipeline)."""
    return prompt_params(*pipeline.stage(rule).prompts)


def cluster_settings(wildcards):
    """The clustering settings a dataset's answer type uses: the embedding ones for
    free text, only `answer_key` for answer-match clustering (numbers, choices), so
    editing one answer type's settings reruns only the clusters it changes."""
    settings = dict(config["stages"]["cluster"])
    answer_key = settings.pop("answer_key")
    if dataset_spec(wildcards.dataset).answer.clusters_by_embedding:
        return settings
    return {"answer_key": answer_key}


def sft_recipe(key):
    """The SFT recipe of a model key: `sft`, with its role's overrides on top."""
    return config_sft_recipe(config, plan.sft_role(plan.parse_key(key).method))


def model_settings(key):
    return MODELS[plan.parse_key(key).name]


def gpus_for(key, training=False):
    """GPUs a job on model `key` asks for (0 = CPU, as for the tiny models)."""
    return model_gpus(model_settings(key), training)


def job_gpus(rule, key_of=None, training=False, cpu_only=False):
    """GPUs of a job: the model's (`gpus`, or `sft_gpus` to train it); a job without
    a model takes its stage's `resources.<class>.gpus` (clustering may embed on one);
    none for a job that works on a model on CPU (`cpu_only`, e.g. a GGUF conversion)."""
    resource_class = pipeline.stage(rule).resources

    def gpus(wc):
        if cpu_only:
            return 0
        if key_of:
            return gpus_for(key_of(wc), training)
        if resource_class == "cluster" and not dataset_spec(wc.dataset).answer.clusters_by_embedding:
            return 0  # clustering by extracted answer embeds nothing
        return config["resources"][resource_class].get("gpus", 0)

    return gpus


def job_cpus(rule, key_of=None, training=False, cpu_only=False):
    """CPUs of a job: cpus_per_gpu x GPUs, or `resources.cpus` without a GPU. The
    rules' `threads` and the SLURM request both come from here."""
    settings = config["resources"]
    gpus = job_gpus(rule, key_of, training, cpu_only)
    return lambda wc: settings["cpus_per_gpu"] * gpus(wc) if gpus(wc) else settings["cpus"]


def job_resources(rule, key_of=None, training=False, cpu_only=False):
    """Cluster requests for a job: GPUs from the model, memory and runtime from its
    stage's `resources.<class>` entry (alice_w2s.pipeline) scaled by the model's size.
    A retried job (Snakemake `retries`, e.g. after SLURM's OUT_OF_MEMORY or TIMEOUT)
    asks for `attempt` times the memory and runtime."""
    request = config["resources"][pipeline.stage(rule).resources]

    def size(wc):
        return model_settings(key_of(wc))["size_b"] if key_of else 0

    gpus = job_gpus(rule, key_of, training, cpu_only)

    def folder_mb(wc):
        # bf16 weights only from training in bf16 on GPUs (backends/sft.py, save_dtype,
        # which asks torch for CUDA: a GPU job on a machine without one saves fp32, a
        # `gpus: 0` job on a machine with one bf16; here the config decides)
        bf16 = training and gpus(wc) > 0 and sft_recipe(key_of(wc))["bf16"]
        return model_folder_mb(size(wc), bf16)

    def gpu_model(wc):
        # the SLURM plugin turns it into --gpus=<model>:<gpu>; "" asks for any GPU
        model = model_settings(key_of(wc)).get("gpu_model") if key_of and gpus(wc) else None
        return model or ""

    requests = {
        "gpu": gpus,
        "gpu_model": gpu_model,
        # One task that sees all the job's GPUs: without this, plugin 2.6.x adds
        # --ntasks-per-gpu=1 and the job step starts the script once per GPU.
        "tasks_per_gpu": 0,
        "cpus_per_task": job_cpus(rule, key_of, training, cpu_only),
        "mem_mb": lambda wc, attempt: attempt * int(1024 * (request["mem_gb"] + request["mem_gb_per_b"] * size(wc))),
        "runtime": lambda wc, attempt: attempt * int(request["runtime_min"] + request["runtime_min_per_b"] * size(wc)),
    }
    if key_of and pipeline.stage(rule).directory:
        # The model folder it writes: what `python -m alice_w2s.cost` bills as disk, and
        # what the job checks is free before it starts (alice_w2s.runner). Not
        # `disk_mb`: --default-resources gives that one to every job.
        requests["model_folder_mb"] = folder_mb
    return requests


def unless_human_cot(param):
    """A cot_filter param that only matters where the CoT is generated (not GSM8K's
    human solutions): None there, so changing it reruns nothing on such datasets."""
    return lambda wildcards: None if dataset_spec(wildcards.dataset).has_human_cot else param(wildcards)


# --- tables ------------------------------------------------------------------------

TABLES = config["tables"]
TABLE_CELLS = {name: plan.table_cells(table) for name, table in TABLES.items()}


# --- base models converted from GGUF (rules/models.smk) ------------------------------

GGUF = [name for name, m in MODELS.items() if m["source"] == "gguf"]


def gguf_input(wildcards):
    """The GGUF file on disk, so a changed file reruns the conversion; a bundled
    file is tracked by its package's version instead (params)."""
    model = MODELS[wildcards.name]
    if model["path"].startswith(model_sources.BUNDLED_PREFIX):
        return []
    return [os.path.join(model["path"], model["file"]) if "file" in model else model["path"]]


def gguf_package(wildcards):
    """The pip package (and its version) a bundled model comes from, or None."""
    name = model_sources.bundled_name(MODELS[wildcards.name]["path"])
    if name is None:
        return None
    package = model_sources.BUNDLED[name][0]
    try:
        return {"name": package, "version": metadata.version(package)}
    except metadata.PackageNotFoundError:
        return {"name": package, "version": None}  # the job says how to install it


# --- derived models: another model's weights transformed (rules/models.smk) ----------

DERIVED = [name for name, m in MODELS.items() if m["source"] == "derived"]


def derived_source(wildcards):
    """The folder of the model a derived model is made from (built by its own rule,
    or a local folder); a hub source is loaded by id inside the job."""
    source = MODELS[wildcards.name]["from"]
    local = [MODELS[source]["path"]] if MODELS[source]["source"] == "local" else []
    return model_files("", source) + local
