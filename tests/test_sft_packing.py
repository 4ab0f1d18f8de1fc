"""Padding-free SFT batches (alice_w2s.backends.sft_packing): the layout arithmetic,
the packed rows, and the same loss and gradients as the padded batch on tiny
models of the architectures the configs use (Qwen2, Llama, Gemma 3, and GPT-2's
learned positions), whose loss is also the chunked one (``sft.loss_path``)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from alice_w2s.backends.sft import CHUNKED, RESPONSE_POSITIONS, loss_path, response_only_loss
from alice_w2s.backends.sft_examples import IGNORE_INDEX, PadCollator
from alice_w2s.backends.sft_packing import AttentionCost, PackCollator, choose_rows, first_fit, packing_cost

LINEAR_ONLY = AttentionCost(per_token=1.0, per_pair=0.0, varlen=False)
ATTENTION_ONLY = AttentionCost(per_token=0.0, per_pair=1.0, varlen=False)
VARLEN = AttentionCost(per_token=1.0, per_pair=1.0, varlen=True)


def test_first_fit_keeps_every_example_once_and_rows_within_width() -> None:
    lengths = [9, 15, 5, 11, 3, 7]
    rows = first_fit(lengths, 20)
    assert sorted(i for row in rows for i in row) == list(range(6))
    assert all(sum(lengths[i] for i in row) <= 20 for row in rows)
    assert rows == [[1, 2], [3, 0], [5, 4]]  # longest first (15, 11, 9, 7, 5, 3), each into the first row with room


def test_choose_rows_by_cost_and_never_more_tokens_than_the_padded_batch() -> None:
    lengths = [80, 20, 30, 25, 60, 40, 35, 22]
    padded = len(lengths) * max(lengths)
    # cheap attention: the fewest tokens (one row of all of them: no padding at all)
    rows, width = choose_rows(lengths, LINEAR_ONLY)
    assert len(rows) * width == sum(lengths) and len(rows) == 1
    # attention only: the narrowest rows (the longest example's width), as few as fit
    rows, width = choose_rows(lengths, ATTENTION_ONLY)
    assert width == 80 and len(rows) * width < padded
    # a varlen kernel reads packing only from a batch of one row
    rows, width = choose_rows(lengths, VARLEN)
    assert rows == [list(range(8))] and width == sum(lengths)
    # SmolLM2-135M (packing_cost of the real model): a batch of the demo's Alice labels
    # (first-fit at the longest would leave 16% padding) is packed into one row ...
    smol = AttentionCost(per_token=222175872.0, per_pair=69120.0, varlen=False)
    assert choose_rows([82, 84, 90, 131, 132, 137, 164, 164], smol) == ([[6, 7, 5, 4, 3, 2, 1, 0]], 984)
    # ... and one that first-fit fills at the longest width is not
    assert len(choose_rows(lengths, smol)[0]) == 4
    # ... but rows of 8 x 4000 tokens are not (their attention would dominate)
    long_rows, width = choose_rows([4000 - 100 * i for i in range(8)], smol)
    assert len(long_rows) > 1 and width < 8 * 3600
    for cost in (LINEAR_ONLY, ATTENTION_ONLY, smol):
        for sizes in ([5], [7, 7, 7], [100, 1, 1, 1], [3, 50, 49, 2, 51]):
            rows, width = choose_rows(sizes, cost)
            assert len(rows) * width <= len(sizes) * max(sizes), (cost, sizes)


def _examples(lengths_and_prompts: list[tuple[int, int]], vocab: int = 300) -> list[dict[str, list[int]]]:
    generator = torch.Generator().manual_seed(1)
    out = []
    for length, prompt in lengths_and_prompts:
        ids = torch.randint(3, vocab, (length,), generator=generator).tolist()
        out.append({"input_ids": ids, "attention_mask": [1] * length, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return out


def test_pack_collator_rows() -> None:
    examples = _examples([(4, 2), (3, 1), (6, 3)])
    # attention only: width 6 needs 3 rows (3 x 36 pairs), width 7 fits [6] [4 + 3] (2 x 49), one row 169
    collator = PackCollator(pad_id=0, cost=ATTENTION_ONLY)
    batch = collator(examples)
    assert set(batch) == {"input_ids", "position_ids", "labels"}  # no attention mask: packing is read from positions
    a, b, c = (ex["input_ids"] for ex in examples)
    assert batch["input_ids"].tolist() == [c + [0], a + b]  # the free tail is padding
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 0], [0, 1, 2, 3, 0, 1, 2]]
    ignore = IGNORE_INDEX
    assert batch["labels"].tolist() == [[ignore] * 3 + c[3:] + [ignore], [ignore] * 2 + a[2:] + [ignore] + b[1:]]
    assert (collator.real_tokens, collator.batch_tokens, collator.rows, collator.packed_batches) == (13, 14, 2, 1)
    # the same response tokens are predicted as in the padded batch
    padded = PadCollator(0)(examples)
    assert int(batch["labels"][:, 1:].ne(ignore).sum()) == int(padded["labels"][:, 1:].ne(ignore).sum()) == 7


def _tiny(model_type: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    if model_type == "gpt2":
        config = AutoConfig.for_model("gpt2", n_embd=64, n_layer=2, n_head=4, vocab_size=300, n_positions=128,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2)
    else:
        extra = {"sliding_window": 4, "head_dim": 16} if model_type == "gemma3_text" else {}
        config = AutoConfig.for_model(model_type, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=300,
                                      max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                                      **extra)
    return AutoModelForCausalLM.from_config(config).float().train()


@pytest.mark.parametrize("model_type", ["qwen2", "llama", "gemma3_text", "gpt2"])
def test_packed_rows_give_the_padded_batch_s_loss_and_gradients(model_type: str) -> None:
    """One row, rows of the longest example, and the model's own choice: the loss to
    1e-5 and every gradient as the padded batch's (Gemma 3 with a sliding window
    shorter than the examples, so its local layers see the packing too)."""
    model = _tiny(model_type)
    cost, attention = packing_cost(model)
    assert cost is not None and attention == "sdpa"
    examples = _examples([(9, 4), (15, 6), (5, 3), (11, 8), (13, 2)])
    padded = PadCollator(0)(examples)
    # the model's own loss over full logits, and the chunked loss packing runs with
    reference = model(**padded).loss
    assert loss_path(model, sharded=False) == CHUNKED  # every architecture the configs use
    reference.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    shapes = set()
    for layout in (LINEAR_ONLY, ATTENTION_ONLY, cost):
        model.zero_grad()
        batch = PackCollator(0, layout)(examples)
        shapes.add(tuple(batch["input_ids"].shape))
        loss, _ = response_only_loss(model, batch)
        loss.backward()
        assert abs(float(loss) - float(reference)) < 1e-5, (layout, float(loss), float(reference))
        for name, param in model.named_parameters():
            torch.testing.assert_close(param.grad, expected[name], atol=1e-6, rtol=1e-4, msg=name)
    assert (1, 53) in shapes and len(shapes) >= 2  # one row of all 53 tokens, and narrower rows


def test_packing_cost_names_what_cannot_pack() -> None:
    model = _tiny("llama")
    model.config._attn_implementation = "flash_attention_2"
    cost, attention = packing_cost(model)
    assert cost is not None and cost.varlen and attention == "flash_attention_2"
    model.config._attn_implementation = "paged|sdpa"
    assert packing_cost(model) == (None, "paged|sdpa attention does not take packed sequences")


def test_soft_capped_logits_keep_the_model_s_own_head() -> None:
    """Gemma 2 soft-caps its logits inside the head's forward: the chunked loss, which
    applies the head's plain linear map, is not for it."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model("gemma2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=300)
    assert config.final_logit_softcapping
    assert loss_path(AutoModelForCausalLM.from_config(config), sharded=False) == RESPONSE_POSITIONS
    assert loss_path(_tiny("llama"), sharded=True) == RESPONSE_POSITIONS  # FSDP: the head stays in the forward
