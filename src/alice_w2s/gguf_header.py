"""Facts read from a GGUF file's header without loading it, for plan-time checks
(a derived model's layers against its GGUF source). Kept apart from
``model_sources`` so that this reader is not part of the conversion job's code."""

from __future__ import annotations

import struct

from alice_w2s.model_sources import resolve_gguf


def gguf_block_count(path: str, file: str | None = None) -> int | None:
    """Decoder layers of a GGUF model, from its header (``<arch>.block_count``);
    None where the file cannot be found or read (its conversion job says why).
    Reads the header's key-value pairs only, up to that key: milliseconds, where
    the gguf package's reader maps every tensor (seconds, at every plan)."""
    try:
        with resolve_gguf(path, file).path.open("rb") as handle:
            return _gguf_block_count(handle)
    except (OSError, ValueError, KeyError, struct.error):
        return None


# GGUF value types: scalar struct formats; 8 is a string, 9 an array
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def _gguf_block_count(handle) -> int | None:
    def read(fmt: str):
        fmt = "<" + fmt
        return struct.unpack(fmt, handle.read(struct.calcsize(fmt)))[0]

    def string() -> str:
        return handle.read(read("Q")).decode("utf-8", "replace")

    def value(kind: int):
        if kind == 8:
            return string()
        if kind == 9:
            item_kind, count = read("I"), read("Q")
            return [value(item_kind) for _ in range(count)]
        return read(_GGUF_SCALARS[kind])

    if handle.read(4) != b"GGUF":
        raise ValueError("not a GGUF file")
    read("I")  # version
    read("Q")  # tensor count
    arch = None
    for _ in range(read("Q")):
        key = string()
        found = value(read("I"))
        if key == "general.architecture":
            arch = found
        elif arch is not None and key == f"{arch}.block_count":
            return int(found)
    return None
