# Config validation, paths and input functions shared by all rules.
import os
import sys
from pathlib import Path

from alice_w2s import pipeline, plan
from alice_w2s.config import ConfigError, check_prompt_overrides, load_schema, model_gpus, resolve_config, stage_engine, validate
from alice_w2s.config import sft_recipe as config_sft_recipe
from alice_w2s.datasets.registry import REGISTRY, get_spec
from alice_w2s.preflight import preflight_or_exit
from alice_w2s.provenance import run_info
from alice_w2s.fingerprint import code_fingerprint, file_digest
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
EMBEDDED = [name for name, m in MODELS.items() if m["source"] == "embedded"]
# Sources whose base model the workflow builds, and the rule that builds it (gguf and
# derived: rules/models.smk).
BUILDERS = {"embedded": "build_embedded_model", "gguf": "build_gguf_model", "derived": "build_derived_model"}
# The toy kinds the embedded models' tokenizer corpus and warm-up draw from.
WARMUP_KINDS = sorted(kind for kind, spec in REGISTRY.items() if spec.warmup_corpus)
EMBEDDED_ARCH_KEYS = ("arch", "hidden_size", "num_heads", "num_layers", "intermediate_size", "warmup_steps")
MODEL_NAME = plan.MODEL_NAME_RE


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    name=MODEL_NAME,
    pool=r"all|s\d+of\d+",
    teacher=r"[^/]+",
    key=r"[^/]+",


def data_path(part):
    """A dataset's file: a part prepare_data writes (teacher, transfer, eval) or the
    gold-free pool (transfer_questions)."""
    return stage_output(part) if part == "transfer_questions" else stage_output("prepare_data", part)


def stage_output(rule, output="", /, **fields):
    """An output of `rule` (by name, if it has several) where its stage
    (alice_w2s.pipeline) declares it; fields not given stay Snakemake wildcards."""
    template = pipeline.output(rule, output)
    for field, value in fields.items():
        template = template.replace(f"{{{field}}}", str(value))
    return f"{R}/{template}"


def stage_outputs(rule):
    """Every named output of `rule`'s stage, for `output: **stage_outputs(rule)`."""
    return {name: stage_output(rule, name) for name in pipeline.stage(rule).outputs}


def embedded_model_dirs():
    return [base_model_dir(name) for name in EMBEDDED]


def base_model_dir(name):
    """The folder the workflow builds base model `name` in (a BUILDERS source)."""
    return stage_output(BUILDERS[MODELS[name]["source"]], name=name)


def model_files(dataset, key):
    """Files a job needs to load model `key` (empty for hub and served models)."""
    parsed = plan.parse_key(key)
    if not parsed.is_base:
        return [stage_output("sft", dataset=dataset, key=key)]
    if MODELS[parsed.name]["source"] in BUILDERS:
        return [base_model_dir(parsed.name)]
    return []


def model_location(dataset, key):
    """What the backends load for `key`: a folder or a hub id (with revision)."""
    parsed = plan.parse_key(key)
    if not parsed.is_base:
        return {"path": stage_output("sft", dataset=dataset, key=key), "revision": None}
    model = MODELS[parsed.name]
    if model["source"] in BUILDERS:
        return {"path": base_model_dir(parsed.name), "revision": None}
    if model["source"] == "served":
        # An OpenAI-compatible server; the API key's variable name only, never the key.
        served = {k: model.get(k) for k in ("url", "model", "api_key_env")}
        return {"source": "served", **served, "revision": None, "client": config["generation"]["served"]}
    return {"path": model["path"], "revision": model.get("revision")}


def generation_params(rule, key_of):
    """The backend a generating stage uses and only that backend's options
    (alice_w2s.config.stage_engine, from the stage's `stages.<engine>` entry).
    `shard_size`: prompts per resumable shard (alice_w2s.backends.sharded)."""
    stage = pipeline.stage(rule).engine
    if stage is None:
        raise ValueError(f"rule {rule}: its stage in alice_w2s.pipeline generates nothing (no engine)")

    def params(wildcards):
        backend, options = stage_engine(config, stage, gpus_for(key_of(wildcards)))
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
        sys.exit(f"error: rule {rule.name}: {err}")
    if Path(rule.script).name != f"{rule.name}.py":
        sys.exit(f"error: rule {rule.name} runs {rule.script}, not workflow/scripts/{rule.name}.py")
    if (stage.engine is not None) != hasattr(rule.params, "generation"):
        sys.exit(f"error: rule {rule.name}: generation params without an engine in its stage, or the reverse")


def code_identity(rule):
    """A script rule's `code` param: per job, alice_w2s.fingerprint's hash of the
    script and the package code it runs on the job's dataset kind (for a job
    without a dataset, the kinds of its `kinds` param, else every kind) under the
    generation backend of its `generation` param (any backend without one)."""
    script = rule.basedir.join(rule.script).get_path_or_uri(secret_free=True)
    generation = getattr(rule.params, "generation", None)
    kinds = getattr(rule.params, "kinds", None)

    def code(wildcards):
        on = (dataset_kind(wildcards),) if "dataset" in wildcards.keys() else kinds and tuple(kinds)
        engine = generation(wildcards) if callable(generation) else None
        return code_fingerprint(script, PACKAGE_DIR, on, engine["backend"] if engine else None)

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


# The templates the embedded models' tokenizer and warm-up text are rendered with.
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
    editing one kind reruns only the clusters it changes."""
    settings = dict(config["stages"]["cluster"])
    answer_key = settings.pop("answer_key")
    if dataset_spec(wildcards.dataset).answer.clusters_by_embedding:
        return settings
    return {"answer_key": answer_key}


def teacher_qa_inputs(wildcards):
    """The teacher half, and the CoT filter's output when the Q-A teacher trains on
    the questions whose CoT survived (stages.teacher_qa.questions: cot_survivors)."""
    inputs = {"teacher_half": data_path("teacher")}
    if config["stages"]["teacher_qa"]["questions"] == "cot_survivors":
        inputs["cot"] = stage_output("cot_filter")
    return {k: v.format(dataset=wildcards.dataset, name=wildcards.name) for k, v in inputs.items()}


def sft_recipe(key):
    """The SFT recipe of a model key: `sft`, with its role's overrides on top."""
    return config_sft_recipe(config, plan.sft_role(plan.parse_key(key).recipe))


def training_set(dataset, key):
    """The labels file a trained model `key` is fine-tuned on (plan decides which)."""
    return f"{R}/{plan.training_set(dataset, key)}"


def dataset_spec(dataset):
    return get_spec(config["datasets"][dataset]["kind"])


def model_settings(key):
    return MODELS[plan.parse_key(key).name]


def gpus_for(key, training=False):
    """GPUs a job on model `key` asks for (0 = CPU, as for the embedded models)."""
    return model_gpus(model_settings(key), training)


def job_gpus(rule, key_of=None, training=False, cpu_only=False):
    """GPUs of a job: the model's (`gpus`, or `sft_gpus` to train it); a job without
    a model takes its stage's `resources.<class>.gpus` (clustering may embed on one);
    none for a job that works on a model on CPU (`cpu_only`, e.g. a GGUF conversion)."""
    kind = pipeline.stage(rule).resources

    def gpus(wc):
        if cpu_only:
            return 0
        if key_of:
            return gpus_for(key_of(wc), training)
        if kind == "cluster" and not dataset_spec(wc.dataset).answer.clusters_by_embedding:
            return 0  # clustering by extracted answer embeds nothing
        return config["resources"][kind].get("gpus", 0)

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

    def gpu_model(wc):
        # the SLURM plugin turns it into --gpus=<model>:<gpu>; "" asks for any GPU
        model = model_settings(key_of(wc)).get("gpu_model") if key_of and gpus(wc) else None
        return model or ""

    return {
        "gpu": gpus,
        "gpu_model": gpu_model,
        # One task that sees all the job's GPUs: without this, plugin 2.6.x adds
        # --ntasks-per-gpu=1 and the job step starts the script once per GPU.
        "tasks_per_gpu": 0,
        "cpus_per_task": job_cpus(rule, key_of, training, cpu_only),
        "mem_mb": lambda wc, attempt: attempt * int(1024 * (request["mem_gb"] + request["mem_gb_per_b"] * size(wc))),
        "runtime": lambda wc, attempt: attempt * int(request["runtime_min"] + request["runtime_min_per_b"] * size(wc)),
    }


def unless_human_cot(param):
    """A cot_filter param that only matters where the CoT is generated (not GSM8K's
    human solutions): None there, so changing it reruns nothing on such datasets."""
    return lambda wildcards: None if dataset_spec(wildcards.dataset).has_human_cot else param(wildcards)


def cot_model_inputs(wildcards):
    if dataset_spec(wildcards.dataset).has_human_cot:
        return []  # GSM8K-like: the human worked solutions, no generation
    return model_files(wildcards.dataset, wildcards.name)


def teacher_files(maker, dataset, key):
    """Per teacher of an Alice student `key` (a plan.ModelKey), the output of rule
    `maker` (cluster or summarize_uncertainty) on the student's pool."""
    return [stage_output(maker, dataset=dataset, teacher=t, pool=key.work_pool) for t in plan.teachers_of(key)]


def label_quality_inputs(wildcards):
    """A trained model's training set and the gold rows it is scored against; for an
    Alice student also its teachers' clusters (their final answers, for the 2x2)."""
    inputs = {
        "labels": training_set(wildcards.dataset, wildcards.key),
        "teacher": data_path("teacher").format(dataset=wildcards.dataset),
        "transfer": data_path("transfer").format(dataset=wildcards.dataset),
    }
    key = plan.parse_key(wildcards.key)
    if plan.training_set_maker(key) == "synthesized":
        inputs["clusters"] = teacher_files("cluster", wildcards.dataset, key)
    return inputs


def synthesis_inputs(wildcards):
    """Per teacher, its uncertainty summary (or, without uncertainty, only its
    clusters: no summarizer job runs), and the student's own zero-shot answers.
    A base student answers the whole pool once, for every link and experiment it
    is in (one greedy pass, cheap next to K teacher samples); synthesis picks rows."""
    key = plan.check_training_set_maker(wildcards.key, "synthesized")
    maker, name = ("summarize_uncertainty", "uncertainty") if key.uses_uncertainty else ("cluster", "clusters")
    return {
        "transfer": data_path("transfer_questions").format(dataset=wildcards.dataset),
        name: teacher_files(maker, wildcards.dataset, key),
        "zeroshot": stage_output("zeroshot", dataset=wildcards.dataset, name=key.name, pool="all"),
        "model": model_files(wildcards.dataset, key.name),
    }


# --- tables ------------------------------------------------------------------------

TABLES = config["tables"]
TABLE_CELLS = {name: plan.table_cells(table) for name, table in TABLES.items()}


def table_evaluations(wildcards):
    """Per-item results and summaries of every model a table reads, PGR baselines
    included, and the label quality of each one that was fine-tuned (what it learned from)."""
    needed = plan.cell_models(TABLE_CELLS[wildcards.table])
    return {
        "summaries": [stage_output("eval", "summary", dataset=d, key=k) for d, k in needed],
        "per_item": [stage_output("eval", "per_item", dataset=d, key=k) for d, k in needed],
        "label_quality": [stage_output("label_quality", dataset=d, key=k) for d, k in trained_cell_models(wildcards.table)],
    }


def trained_cell_models(table):
    """The (dataset, model) evaluations of a table whose model was fine-tuned."""
    return [(d, k) for d, k in plan.cell_models(TABLE_CELLS[table]) if not plan.parse_key(k).is_base]


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
