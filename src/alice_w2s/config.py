"""Config validation: the JSON schema (with defaults filled in) plus the checks a
schema cannot express (cross references between sections). Every problem is one
line that names the key."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import jsonschema
import yaml

from alice_w2s import plan, schema_defaults
from alice_w2s.datasets import registry
from alice_w2s.run_settings import sft_recipe
from alice_w2s.schema_defaults import as_number
from alice_w2s.tiny_models import HEAD_DIM

# Tables become target rules of their own name; these names are taken.
RESERVED_RULE_NAMES = ("table_report",)


class ConfigError(ValueError):
    pass


def _with_defaults(validator_class: type) -> type:
    """A validator that writes each property's ``default`` into the instance first,
    and reads numbers the same whatever their YAML spelling."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
                if name in instance and "type" in subschema:
                    instance[name] = as_number(instance[name], subschema["type"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def load_yaml(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text()) or {}


def merge_config(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``, merging nested mappings key by key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_schema() -> dict:
    """The package's config schema (a copy: validation must not change the cached one)."""
    return copy.deepcopy(schema_defaults.schema())


def validate(config: dict, schema: dict | None = None) -> dict:
    """Return a copy of ``config`` with defaults filled in, or raise ConfigError."""
    config = copy.deepcopy(config)
    _rename_stage_keys(config)
    _rename_tiny_models(config)
    # `--config seeds=[0,1]` reaches here as ['0', '1']: Snakemake reads list items on
    # the command line as text (YAML's base loader).
    if isinstance(config.get("seeds"), list):
        config["seeds"] = [int(s) if isinstance(s, str) and s.isdigit() else s for s in config["seeds"]]
    schema = schema or load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    _raise_first(validator.iter_errors(config))
    _check_kinds(config)
    _check_sft_roles(config, schema)
    _check_references(config)
    if config["seeds"] is None:
        config["seeds"] = [config["seed"]]
    return canonical(config)


# Config keys an older release used, and their names now (each generating stage's
# settings are under its rule's name). Their values are the same settings, so a
# finished run configured with an old name reruns nothing.
RENAMED_STAGE_KEYS = {"cot": "cot_filter", "summarize": "summarize_uncertainty", "w2s": "w2s_answers"}


# An older release's name for the tiny random-weight models built from a seed;
# "embedded" now names only the embedded default (config/config.yaml), "embedding"
# only sentence vectors.
OLD_TINY_NAME = "embedded"


def _rename_tiny_models(config: dict) -> None:
    """Read `source: embedded` and the section `embedded:` as `source: tiny` and
    `tiny:`, with a note."""
    _read_old_key(config, OLD_TINY_NAME, "tiny")
    for name, model in (config.get("models") or {}).items():
        if isinstance(model, dict) and model.get("source") == OLD_TINY_NAME:
            print(f"note: config key models.{name}.source: {OLD_TINY_NAME} is now tiny; read as such", file=sys.stderr)
            model["source"] = "tiny"


def _rename_stage_keys(config: dict) -> None:
    """Read ``stages.<old name>`` as ``stages.<new name>`` (its values on top: a file
    given after the embedded default may still use the old name), with a note."""
    stages = config.get("stages")
    if not isinstance(stages, dict):
        return
    for old, new in RENAMED_STAGE_KEYS.items():
        _read_old_key(stages, old, new, "stages.")


def _read_old_key(mapping: dict, old: str, new: str, where: str = "") -> None:
    """Read ``mapping[old]`` as ``mapping[new]``, its values on top of the new key's (a
    file given after the embedded default may still use the old name), with a note."""
    if old not in mapping:
        return
    print(f"note: config key {where}{old} is now {where}{new}; read as such", file=sys.stderr)
    given, current = mapping.pop(old), mapping.get(new)
    mapping[new] = merge_config(current, given) if isinstance(current, dict) and isinstance(given, dict) else given


def canonical(value: object) -> object:
    """Mappings with their keys sorted, all the way down: a config written in another
    key order gives the same params (Snakemake compares params as text)."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def resolve_config(config: dict, configfiles: list, default_path: str | Path) -> dict:
    """The config a run uses, by one explicit rule: with no ``--configfile``, the
    embedded default (``config/config.yaml``) with ``--config`` values on top; with
    one or more, those files alone (Snakemake merges them in order). To change a few
    keys of the embedded default, list it first:
    ``--configfile config/config.yaml mine.yaml``."""
    if not configfiles:
        return merge_config(load_yaml(default_path), config)
    if "models" not in config:
        given = " ".join(str(f) for f in configfiles)
        raise ConfigError(
            f"config key models: required; --configfile {given} replaces the embedded default "
            f"instead of changing it: to change some of its keys, give it first "
            f"(--configfile config/config.yaml {given})"
        )
    return config


def check_prompt_overrides(directory: str | Path, overrides: dict[str, str]) -> None:
    """Every ``prompts.overrides`` entry must name a template of the prompt folder
    (e.g. ``summarize/number.txt``) and point at a file: an entry for a template that
    does not exist (a typo, or a name an older release used) would otherwise be
    ignored without a word."""
    directory = Path(directory)
    known = sorted(str(p.relative_to(directory)) for p in directory.rglob("*.txt"))
    for name, path in sorted(overrides.items()):
        if name not in known:
            raise ConfigError(f"config key prompts.overrides.{name}: no such template in {directory}; "
                              f"the templates: {', '.join(known)}")
        if not Path(path).is_file():
            raise ConfigError(f"config key prompts.overrides.{name}: {path} is not a file")


def _raise_first(errors, prefix: str = "") -> None:
    errors = sorted(errors, key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = ".".join(str(p) for p in error.absolute_path)
        key = f"{prefix}.{path}" if prefix and path else (prefix or _key_path(error))
        raise ConfigError(f"config key {key}: {error.message}")


def _check_sft_roles(config: dict, schema: dict) -> None:
    """Role overrides take the same keys, and values, as ``sft`` itself."""
    sft_schema = schema["properties"]["sft"]
    recipe_schema = {**sft_schema, "properties": {k: v for k, v in sft_schema["properties"].items() if k != "roles"}}
    for role, overrides in config["sft"]["roles"].items():
        merged = sft_recipe(config, role)
        unknown = sorted(set(overrides) - set(recipe_schema["properties"]))
        if unknown:
            raise ConfigError(f"config key sft.roles.{role}.{unknown[0]}: not an sft setting")
        _raise_first(jsonschema.Draft202012Validator(recipe_schema).iter_errors(merged), f"sft.roles.{role}")


def _check_kinds(config: dict) -> None:
    """Every dataset's kind is in the dataset registry (the schema does not list them)."""
    for name, dataset in config["datasets"].items():
        if dataset["kind"] not in registry.REGISTRY:
            raise ConfigError(
                f"config key datasets.{name}.kind: unknown dataset kind {dataset['kind']!r}; "
                f"registered: {', '.join(registry.REGISTRY)}"
            )


def _check_references(config: dict) -> None:
    models, datasets = config["models"], config["datasets"]
    for name, model in models.items():
        where = f"config key models.{name}"
        if plan.SEED_SUFFIX_RE.search(name):
            raise ConfigError(f"{where}: a model name may not end in .s<number>, which model keys use for seeds")
        if model["source"] == "tiny":
            for key in ("arch", "hidden_size", "num_layers", "num_heads", "intermediate_size"):
                if key not in model:
                    raise ConfigError(f"{where}.{key}: required for a tiny model")
            if model["hidden_size"] != HEAD_DIM * model["num_heads"]:
                raise ConfigError(
                    f"{where}.hidden_size: must be {HEAD_DIM} x num_heads (vLLM on CPU needs head_dim {HEAD_DIM})"
                )
        elif model["source"] == "served":
            for key in ("url", "model"):
                if key not in model:
                    raise ConfigError(f"{where}.{key}: required for a served model (server URL and served model name)")
        elif model["source"] == "gguf":
            _check_gguf(where, model)
        elif model["source"] == "derived":
            _check_derived(where, model, models)
        elif "path" not in model:
            raise ConfigError(f"{where}.path: required for a {model['source']} model (hub id or folder)")
        if "file" in model and model["source"] != "gguf":
            raise ConfigError(f"{where}.file: only for source gguf (the .gguf file inside the folder path)")
    for name, dataset in datasets.items():
        where = f"config key datasets.{name}"
        if (dataset["source"] == "toy") != registry.get_spec(dataset["kind"]).is_toy:
            raise ConfigError(f"{where}.source: toy kinds need source 'toy' and real kinds 'hub' or 'local'")
        if dataset["source"] == "toy" and "toy" not in dataset:
            raise ConfigError(f"{where}.toy: required for a toy dataset (n_train, n_eval)")
        if dataset["source"] == "local" and "files" not in dataset:
            raise ConfigError(f"{where}.files: required for a local dataset (train, eval)")
    summarizer = config.get("summarizer")
    if summarizer is not None and summarizer not in models:
        raise ConfigError(f"config key summarizer: {summarizer!r} is not in models")
    for name, table in config["tables"].items():
        _check_table(name, table, models, datasets)
    if summarizer is None:
        raise ConfigError("config key summarizer: required (a key of models) to summarize teacher uncertainty")
    # its own module: it reads files; imported here, as it raises this module's ConfigError
    from alice_w2s.local_inputs import check_local_inputs

    check_local_inputs(config)


def _check_gguf(where: str, model: dict) -> None:
    """A GGUF model names its file; whether it exists is checked when it is converted."""
    from alice_w2s.model_sources import BUNDLED, bundled_name

    if "path" not in model:
        raise ConfigError(f"{where}.path: required for a gguf model (.gguf file, folder with file, or bundled:NAME)")
    name = bundled_name(model["path"])
    if name is not None and name not in BUNDLED:
        raise ConfigError(f"{where}.path: unknown bundled model {name!r}; known: {', '.join(sorted(BUNDLED))}")
    if name is not None and "file" in model:
        raise ConfigError(f"{where}.file: a bundled model names its own file; drop file")


def _check_derived(where: str, model: dict, models: dict) -> None:
    """A derived model names a source with weights and a transformation that fits it
    (its layer count, where it is known before any job)."""
    from alice_w2s.derived_models import check_transform

    source = model.get("from")
    if source is None:
        raise ConfigError(f"{where}.from: required for a derived model (the model whose weights it transforms)")
    if source not in models:
        raise ConfigError(f"{where}.from: {source!r} is not in models")
    if models[source]["source"] in ("served", "derived"):
        raise ConfigError(f"{where}.from: {source!r} is a {models[source]['source']} model; derive from a model with weights of its own")
    if "transform" not in model:
        raise ConfigError(f"{where}.transform: required for a derived model (round_bits, group_size, drop_layers)")
    problem = check_transform(model["transform"], _decoder_layer_count(models[source]))
    if problem:
        raise ConfigError(f"{where}.{problem}")


def _decoder_layer_count(model: dict) -> int | None:
    """Decoder layers of a model, where the config or a local file says it without
    loading weights (tiny: num_layers; local: config.json; gguf: its header)."""
    if model["source"] == "tiny":
        return model.get("num_layers")
    if model["source"] == "local":
        config_file = Path(model["path"]) / "config.json"
        return json.loads(config_file.read_text()).get("num_hidden_layers") if config_file.is_file() else None
    if model["source"] == "gguf" and "path" in model:
        from alice_w2s.gguf_header import gguf_block_count

        return gguf_block_count(model["path"], model.get("file"))
    return None  # a hub model: its job checks


def _check_table(name: str, table: dict, models: dict, datasets: dict) -> None:
    """Datasets exist; every row's model key (and PGR baselines) parses and names
    models of ``models``."""
    where = f"config key tables.{name}"
    if name in RESERVED_RULE_NAMES:
        raise ConfigError(f"{where}: {name!r} is the name of a workflow rule; choose another table name")
    for i, dataset in enumerate(table["datasets"]):
        if dataset not in datasets:
            raise ConfigError(f"{where}.datasets.{i}: {dataset!r} is not in datasets")
    for b, block in enumerate(table["blocks"]):
        for i, model in enumerate(block.get("chain", [])):
            if model not in models:
                raise ConfigError(f"{where}.blocks.{b}.chain.{i}: {model!r} is not in models")
        for r, row in enumerate(block.get("rows", [])):
            for field in ("model", "weak", "strong"):
                if row.get(field) is None:
                    continue
                try:
                    key = plan.parse_key(row[field])
                except ValueError as err:
                    raise ConfigError(f"{where}.blocks.{b}.rows.{r}.{field}: {err}") from None
                if key.seed is not None:
                    raise ConfigError(
                        f"{where}.blocks.{b}.rows.{r}.{field}: {row[field]!r} names a seed; list seeds in `seeds`"
                    )
                unknown = [m for m in key.base_models if m not in models]
                if unknown:
                    raise ConfigError(f"{where}.blocks.{b}.rows.{r}.{field}: {unknown[0]!r} is not in models")
