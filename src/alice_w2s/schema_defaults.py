"""The defaults of the config schema (``alice_w2s/config_schema.yaml``), for code that runs without a validated
config (a backend called from a test, a benchmark or a notebook). The schema is
their one source: such code takes its defaults from here instead of writing its
own, so that it never runs with values a configured run would not use."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

# The schema ships inside the package, beside this module: no guess of where a checkout is.
SCHEMA_PATH = Path(__file__).with_name("config_schema.yaml")

# A YAML number however it is spelled: PyYAML reads `1e-3` (no dot) as a string.
_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def as_number(value: object, types: object) -> object:
    """``value`` as a float where the schema asks for a number, whatever its spelling
    (``1e-3``, ``0.001``, ``1`` and ``1.0`` become one value, so one param)."""
    types = types if isinstance(types, list) else [types]
    if "number" not in types or isinstance(value, bool):
        return value
    if isinstance(value, int) and "integer" not in types:
        return float(value)
    if isinstance(value, str) and "string" not in types and _NUMBER_RE.fullmatch(value.strip()):
        return float(value)
    return value


@cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _defaults(properties: dict) -> dict[str, object]:
    return {
        name: as_number(prop["default"], prop.get("type"))
        for name, prop in properties.items()
        if isinstance(prop, dict) and "default" in prop
    }


def section_defaults(*keys: str) -> dict[str, object]:
    """The defaults of the config section ``keys`` (e.g. ``"generation", "vllm"``)."""
    node = schema()
    for key in keys:
        node = node["properties"][key]
    return _defaults(node["properties"])


def transform_defaults() -> dict[str, object]:
    """The defaults of a derived model's ``transform`` (``models.<name>.transform``)."""
    return _defaults(schema()["properties"]["models"]["additionalProperties"]["properties"]["transform"]["properties"])


def sampling_defaults() -> dict[str, object]:
    """The defaults every generating stage shares (``$defs.sampling``)."""
    return _defaults(schema()["$defs"]["sampling"])
