"""Derived models (``source: derived``): a weaker copy of another model of the
config, made offline by a deterministic transformation of its weights. It gives
a weak model that knows *part* of what its source knows, e.g. a SmolLM2 whose
linear layers are rounded to 3 bits: a real weak teacher on CPU, where a model
trained from scratch here knows nothing and no second small instruct model can
be had offline.

``transform`` (validated by the config schema and ``check_transform``):

- ``round_bits`` / ``group_size``: round every linear weight of the decoder
  layers (attention and MLP projections) to ``round_bits`` bits, asymmetric
  min/max per group of ``group_size`` consecutive input weights (what GPTQ/AWQ
  call group-wise round-to-nearest, without calibration). Embeddings, norms and
  the output head are kept. Fewer bits or larger groups: a weaker model.
- ``round_modules``: ``all`` (default), ``attention`` or ``mlp``: which linear
  layers are rounded. On SmolLM2-135M, 3 bits everywhere left a model that still
  knew facts but no longer followed a chat turn (untrained, it wrote noise about
  itself), so its own CoT filter kept 3 of 63 answers; 3 bits on the attention
  projections only left a model that writes coherent answers and knows less.
- ``round_layers``: indices of the source's decoder layers whose linear layers
  are rounded (default: all); a finer strength knob than bits and groups, whose
  steps are coarse on a small model (3 bits everywhere: near nothing; 4 bits:
  about all of it).
- ``drop_layers``: indices of decoder layers to remove (the rest keep their order).

Both are applied in that order (drop, then round) and recorded in the manifest
with the mean relative change they made to the rounded weights.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from alice_w2s.io import atomic_dir
from alice_w2s.schema_defaults import transform_defaults


def check_transform(transform: dict, layers: int | None) -> str | None:
    """What is wrong with ``transform`` for a source of ``layers`` decoder layers
    (None: not known before the job), as ``key: reason``; None if nothing."""
    if "round_bits" not in transform and not transform.get("drop_layers"):
        return "transform: name at least one of round_bits, drop_layers"
    dropped = transform.get("drop_layers", [])
    rounded = transform.get("round_layers")
    if rounded is not None and "round_bits" not in transform:
        return "transform.round_layers: names layers to round, but round_bits is not set"
    for key, listed in (("drop_layers", dropped), ("round_layers", rounded or [])):
        if len(set(listed)) != len(listed):
            return f"transform.{key}: {listed} names a layer twice"
        if layers is not None:
            outside = [i for i in listed if i >= layers]
            if outside:
                return f"transform.{key}: layer {outside[0]} does not exist (the source has layers 0..{layers - 1})"
    if rounded is not None and not rounded:
        return "transform.round_layers: empty; leave it out to round every layer"
    both = sorted(set(rounded or []) & set(dropped))
    if both:
        return f"transform.round_layers: layer {both[0]} is also in drop_layers"
    if layers is not None and len(dropped) >= layers:
        return f"transform.drop_layers: drops {len(dropped)} of the source's {layers} layers; at least one must stay"
    return None


def round_groupwise(weight, bits: int, group_size: int):
    """``weight`` (out x in) rounded to ``bits`` bits per group of ``group_size``
    consecutive input weights (asymmetric: each group's min and max are kept).
    A row whose length is not a multiple of ``group_size`` ends in a shorter group."""
    import torch

    out_features, in_features = weight.shape
    pad = (-in_features) % group_size
    w = weight.detach().to(torch.float32)
    if pad:
        # pad with each row's last value: the padding never widens a group's range
        w = torch.cat([w, w[:, -1:].expand(out_features, pad)], dim=1)
    groups = w.reshape(out_features, -1, group_size)
    low = groups.amin(dim=-1, keepdim=True)
    high = groups.amax(dim=-1, keepdim=True)
    levels = (1 << bits) - 1
    scale = (high - low).clamp_min(1e-12) / levels
    rounded = torch.round((groups - low) / scale).clamp(0, levels) * scale + low
    return rounded.reshape(out_features, -1)[:, :in_features].to(weight.dtype)


def _decoder_layers(model):
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: no decoder layers at model.layers; derived models support decoder LMs")
    return layers


def drop_decoder_layers(model, dropped: list[int]) -> None:
    """Remove the decoder layers ``dropped`` in place; the config, each layer's
    cache index and any per-layer config list follow."""
    import torch

    layers = _decoder_layers(model)
    problem = check_transform({"drop_layers": list(dropped)}, len(layers))
    if problem:
        raise ValueError(problem)
    keep = [i for i in range(len(layers)) if i not in set(dropped)]
    model.model.layers = torch.nn.ModuleList(layers[i] for i in keep)
    for new_index, layer in enumerate(model.model.layers):
        attention = getattr(layer, "self_attn", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = new_index
    model.config.num_hidden_layers = len(keep)
    for name in ("layer_types",):  # per-layer lists (e.g. sliding or full attention)
        values = getattr(model.config, name, None)
        if isinstance(values, list) and len(values) == len(layers):
            setattr(model.config, name, [values[i] for i in keep])


# round_modules -> the decoder layer's submodule whose linear layers are rounded
ROUND_MODULES = {"all": "", "attention": "self_attn", "mlp": "mlp"}


def round_decoder_linears(
    model, bits: int, group_size: int, modules: str = "all", layers: list[int] | None = None
) -> dict[str, Any]:
    """Round the nn.Linear weights inside the decoder layers in place (``modules``:
    a key of ROUND_MODULES; ``layers``: indices of the layers to round, None: all);
    returns how many tensors and weights it rounded and their mean relative change."""
    import torch

    prefix = ROUND_MODULES[modules]
    tensors = weights = 0
    change = norm = 0.0
    with torch.no_grad():
        for index, layer in enumerate(_decoder_layers(model)):
            if layers is not None and index not in layers:
                continue
            for name, module in layer.named_modules():
                if not isinstance(module, torch.nn.Linear) or not name.startswith(prefix):
                    continue
                before = module.weight.detach().clone()
                module.weight.copy_(round_groupwise(module.weight, bits, group_size))
                tensors += 1
                weights += before.numel()
                change += float((module.weight - before).norm())
                norm += float(before.norm())
    if not tensors:
        raise ValueError(f"{type(model).__name__}: no linear layers to round in its decoder layers ({modules})")
    return {"rounded_tensors": tensors, "rounded_weights": weights, "mean_relative_change": round(change / norm, 6)}


def derive_model(source_dir: str | Path, transform: dict, out_dir: str | Path, revision: str | None = None) -> dict[str, Any]:
    """Load the model ``source_dir`` (a folder, or a hub id at ``revision``), apply
    ``transform`` and save the result (weights, tokenizer, generation config) as a
    plain model folder in ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    source_dir = str(source_dir)
    model = AutoModelForCausalLM.from_pretrained(source_dir, revision=revision, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(source_dir, revision=revision)
    layers_before = len(_decoder_layers(model))
    problem = check_transform(transform, layers_before)
    if problem:
        raise ValueError(problem)
    stats: dict[str, Any] = {"source": source_dir, "revision": revision, "transform": dict(transform), "layers_before": layers_before}
    dropped = transform.get("drop_layers") or []
    if dropped:
        drop_decoder_layers(model, dropped)
    if "round_bits" in transform:
        settings = {**transform_defaults(), **transform}  # a validated config has them all
        layers = None
        if transform.get("round_layers") is not None:  # source indices -> indices after the drop
            kept = [i for i in range(layers_before) if i not in dropped]
            layers = [kept.index(i) for i in transform["round_layers"]]
        stats.update(
            round_decoder_linears(model, settings["round_bits"], settings["group_size"], settings["round_modules"], layers)
        )
    model.eval()
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        (Path(tmp) / "derived_from.json").write_text(json.dumps({"source": source_dir, "revision": revision, "transform": transform}, indent=1))
    stats.update(
        layers=len(_decoder_layers(model)),
        n_params=sum(p.numel() for p in model.parameters()),
        architecture=type(model).__name__,
        seconds=round(time.perf_counter() - started, 1),
    )
    return stats

