"""Padding-free batches for SFT: a batch's examples packed end to end into rows,
each example with its own position ids (0, 1, ...) and no attention across examples.

transformers reads packed sequences from the position ids when no attention mask is
passed: flash attention (a varlen kernel) only in a batch of one row; sdpa, eager and
flex attention through a block-diagonal causal mask (``masking_utils``), in any number
of rows. Those masked kernels still compute every (query, key) pair of a row, so a
row of all 8 examples costs more attention than 8 padded rows; the layout is chosen
per batch by estimated FLOPs (``choose_rows``), never more tokens than the padded
batch. The examples, their order into batches, and so the loss and the optimizer
steps are the padded batch's: only the arithmetic's shape changes.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch

from alice_w2s.backends.sft_examples import IGNORE_INDEX, PadCollator

# Attention implementations that read packed sequences from position ids (transformers 5).
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")  # one row, no cross-example pairs computed
MASKED_ATTENTION = ("sdpa", "eager", "flex_attention")  # any rows, through masking_utils' packed-sequence mask


@dataclass(frozen=True)
class AttentionCost:
    """A batch layout's forward FLOPs, up to a common factor: ``per_token`` through
    the decoder layers (2 x their parameters), ``per_pair`` for each (query, key)
    pair the attention kernel computes (4 x layers x heads x head_dim: QK^T and AV).
    ``varlen``: the kernel skips pairs across packed examples (flash attention)."""

    per_token: float
    per_pair: float
    varlen: bool

    def of(self, lengths: list[int], rows: int, width: int) -> float:
        pairs = sum(n * n for n in lengths) if self.varlen else rows * width * width
        return rows * width * self.per_token + pairs * self.per_pair


def unwrapped(model: Any) -> Any:
    """The causal LM under the DDP and peft wrappers."""
    while hasattr(model, "module"):  # DDP
        model = model.module
    if hasattr(model, "get_base_model"):  # peft
        model = model.get_base_model()
    return model


def packing_cost(model: Any) -> tuple[AttentionCost | None, str]:
    """The cost model of ``model``'s packed batches, or None with the reason it cannot
    take them: its attention implementation, or a modeling module that does not build
    its mask with ``masking_utils.create_causal_mask`` (which reads packed position ids)."""
    base = unwrapped(model)
    config = base.config.get_text_config() if hasattr(base.config, "get_text_config") else base.config
    attention = getattr(base.config, "_attn_implementation", None) or "unknown"
    varlen = attention in VARLEN_ATTENTION
    if not varlen and attention not in MASKED_ATTENTION:
        return None, f"{attention} attention does not take packed sequences"
    inner = getattr(base, "model", base)  # the decoder stack under the LM head
    modeling = inspect.getmodule(type(inner))
    if not varlen and not hasattr(modeling, "create_causal_mask"):
        return None, f"{type(inner).__name__} builds its attention mask without masking_utils"
    if "position_ids" not in inspect.signature(base.forward).parameters:
        return None, f"{type(base).__name__}.forward takes no position_ids"
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    layer_params = base.num_parameters(exclude_embeddings=True)
    head = base.get_output_embeddings()
    if head is not None and head.weight is not base.get_input_embeddings().weight:
        layer_params -= head.weight.numel()  # the LM head runs on response positions only, in every layout
    cost = AttentionCost(per_token=2.0 * layer_params, per_pair=4.0 * config.num_hidden_layers * heads * head_dim,
                         varlen=varlen)
    return cost, attention


def first_fit(lengths: list[int], width: int) -> list[list[int]]:
    """Indices of the examples in each row, longest first into the first row with
    room, no row longer than ``width`` tokens."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for r, left in enumerate(room):
            if lengths[i] <= left:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(width - lengths[i])
    return rows


def choose_rows(lengths: list[int], cost: AttentionCost) -> tuple[list[list[int]], int]:
    """The rows (example indices) and their width for one batch, cheapest by
    ``cost`` among widths from the longest example to all of them in one row; a
    layout with more tokens than the padded batch is never taken. A varlen kernel
    gets one row, the only packed form it reads."""
    total, longest = sum(lengths), max(lengths)
    if cost.varlen:
        return [list(range(len(lengths)))], total
    best: tuple[float, int, list[list[int]]] | None = None
    for width in sorted({max(longest, math.ceil(total / k)) for k in range(1, len(lengths) + 1)}):
        rows = first_fit(lengths, width)
        if len(rows) * width > len(lengths) * longest:
            continue
        value = cost.of(lengths, len(rows), width)
        if best is None or value < best[0]:
            best = (value, width, rows)
    assert best is not None  # width == longest always fits in the padded batch's tokens
    return best[2], best[1]


class PackCollator(PadCollator):
    """Pack each batch into ``choose_rows``'s rows: input ids, position ids that start
    at 0 for every example, labels with each example's first token ignored (it is not
    predicted from the example before it), and no attention mask. A row's free tail
    is a pad segment of its own (positions from 0, labels ignored). ``rows`` and
    ``packed_batches`` count what was made."""

    def __init__(self, pad_id: int, cost: AttentionCost) -> None:
        super().__init__(pad_id)
        self.cost = cost
        self.rows = 0
        self.batches = 0
        self.packed_batches = 0  # batches with fewer rows than examples

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        lengths = [len(ex["input_ids"]) for ex in batch]
        rows, width = choose_rows(lengths, self.cost)
        self.real_tokens += sum(lengths)
        self.batch_tokens += len(rows) * width
        self.rows += len(rows)
        self.batches += 1
        self.packed_batches += len(rows) < len(batch)
        out: dict[str, list[list[int]]] = {"input_ids": [], "position_ids": [], "labels": []}
        for row in rows:
            ids: list[int] = []
            positions: list[int] = []
            labels: list[int] = []
            for i in row:
                ex = batch[i]
                ids += ex["input_ids"]
                positions += range(len(ex["input_ids"]))
                labels += [IGNORE_INDEX] + ex["labels"][1:]
            free = width - len(ids)
            out["input_ids"].append(ids + [self.pad_id] * free)
            out["position_ids"].append(positions + list(range(free)))
            out["labels"].append(labels + [IGNORE_INDEX] * free)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}
