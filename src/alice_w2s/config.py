"""Config validation: the JSON schema (with defaults filled in) plus the checks a
schema cannot express (cross references between sections). Every problem is one
line that names the key."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from alice_w2s import plan

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


# Tables become target rules of their own name; these names are taken.
RESERVED_RULE_NAMES = ("table_report",)


class ConfigError(ValueError):
    pass


def _with_defaults(validator_class: type) -> type:
    """A validator that writes each property's ``default`` into the instance first."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001 - jsonschema hook
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
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


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return load_yaml(path)


def validate(config: dict, schema: dict | None = None) -> dict:
    """Return a copy of ``config`` with defaults filled in, or raise ConfigError."""
    config = copy.deepcopy(config)
    schema = schema or load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    _raise_first(validator.iter_errors(config))
    _check_sft_roles(config, schema)
    _check_references(config)
    return config


def _raise_first(errors, prefix: str = "") -> None:  # noqa: ANN001 - jsonschema error iterator
    errors = sorted(errors, key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = ".".join(str(p) for p in error.absolute_path)
        key = f"{prefix}.{path}" if prefix and path else (prefix or _key_path(error))
        raise ConfigError(f"config key {key}: {error.message}")


def sft_recipe(config: dict, role: str) -> dict:
    """The SFT settings of a role (teacher, baseline, student): ``sft`` with the
    role's overrides from ``sft.roles`` on top."""
    recipe = {k: v for k, v in config["sft"].items() if k != "roles"}
    return {**recipe, **config["sft"]["roles"].get(role, {})}


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


def _check_references(config: dict) -> None:
    models, datasets = config["models"], config["datasets"]
    for name, model in models.items():
        where = f"config key models.{name}"
        if model["source"] == "embedded":
            for key in ("arch", "hidden_size", "num_layers", "num_heads", "intermediate_size"):
                if key not in model:
                    raise ConfigError(f"{where}.{key}: required for an embedded model")
            if model["hidden_size"] != 64 * model["num_heads"]:
                raise ConfigError(f"{where}.hidden_size: must be 64 x num_heads (vLLM on CPU needs head_dim 64)")
        elif "path" not in model:
            raise ConfigError(f"{where}.path: required for a {model['source']} model (hub id or folder)")
    for name, dataset in datasets.items():
        where = f"config key datasets.{name}"
        is_toy_kind = dataset["kind"].startswith("toy_")
        if (dataset["source"] == "toy") != is_toy_kind:
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
                unknown = [m for m in key.base_models if m not in models]
                if unknown:
                    raise ConfigError(f"{where}.blocks.{b}.rows.{r}.{field}: {unknown[0]!r} is not in models")
