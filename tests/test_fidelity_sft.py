"""SFT truncation follows the paper authors' reference script: the chat-formatted
prompt and the response are tokenized separately, each cut from the right to
``max_length`` tokens, then concatenated (so a sequence is at most 2 x max_length
tokens), with the loss on the response tokens only. The fine-tuning stats count the
examples whose prompt or response was cut."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import test_sft

from alice_w2s.backends.sft import Recipe, train_sft
from alice_w2s.backends.sft_examples import IGNORE_INDEX, build_training_example
from alice_w2s.chat import render_chat

MAX = 24

# the fixtures of test_sft.py: its tiny Qwen2 model and tokenizer, one torch thread
one_torch_thread, tiny_model, tokenizer = test_sft.one_torch_thread, test_sft.tiny_model, test_sft.tokenizer


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    text = render_chat(tokenizer, [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def response_ids(tokenizer, response: str) -> list[int]:
    return tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def test_long_prompt_is_cut_to_max_length_and_the_whole_response_survives(tokenizer) -> None:
    prompt, response = " ".join(["word"] * 40), "answer blue"
    full_prompt, full_response = prompt_ids(tokenizer, prompt), response_ids(tokenizer, response)
    assert len(full_prompt) > MAX

    ex = build_training_example(tokenizer, prompt, response, max_length=MAX)
    assert ex is not None
    assert ex["input_ids"] == full_prompt[:MAX] + full_response
    assert ex["labels"] == [IGNORE_INDEX] * MAX + full_response
    assert ex["attention_mask"] == [1] * (MAX + len(full_response))
    assert len(ex["input_ids"]) > MAX  # the pair together may exceed max_length


def test_long_response_is_cut_to_max_length(tokenizer) -> None:
    prompt, response = "word", " ".join(["blue"] * 40)
    full_prompt, full_response = prompt_ids(tokenizer, prompt), response_ids(tokenizer, response)
    assert len(full_prompt) < MAX < len(full_response)

    ex = build_training_example(tokenizer, prompt, response, max_length=MAX)
    assert ex is not None
    assert len(ex["input_ids"]) == len(full_prompt) + MAX
    assert ex["input_ids"] == full_prompt + full_response[:MAX]
    assert ex["labels"] == [IGNORE_INDEX] * len(full_prompt) + full_response[:MAX]
    assert ex["input_ids"][-1] != tokenizer.eos_token_id  # cut before the EOS

    # Both long: each cut on its own, 2 x max_length in all.
    both = build_training_example(tokenizer, " ".join(["word"] * 40), response, max_length=MAX)
    assert both is not None and len(both["input_ids"]) == 2 * MAX
    assert both["labels"].count(IGNORE_INDEX) == MAX


def test_the_truncation_counts(tokenizer) -> None:
    from alice_w2s.backends.sft_examples import build_training_set

    long_prompt, long_response = " ".join(["word"] * 40), " ".join(["blue"] * 40)
    pairs = [
        ("word", "answer blue"),  # nothing cut
        (long_prompt, "answer blue"),  # prompt cut
        ("word", long_response),  # response cut
        (long_prompt, long_response),  # both cut
        (long_prompt, "answer"),  # prompt cut
    ]
    dataset, counts = build_training_set(tokenizer, pairs, max_length=MAX)
    assert counts == {"n_dropped": 0, "prompts_truncated": 3, "responses_truncated": 2}
    assert [ex["input_ids"] for ex in dataset] == [
        build_training_example(tokenizer, p, r, max_length=MAX)["input_ids"] for p, r in pairs
    ]
    # Exactly max_length tokens is no cut.
    responses = (" ".join(["answer"] + ["blue"] * n) for n in range(MAX))
    exact = next(r for r in responses if len(response_ids(tokenizer, r)) == MAX)  # EOS included
    assert build_training_set(tokenizer, [("word", exact)], max_length=MAX)[1]["responses_truncated"] == 0


def test_train_sft_reports_the_truncation_counts(tiny_model: Path, tmp_path: Path) -> None:
    long_prompt, long_response = " ".join(["word"] * 40), " ".join(["blue"] * 40)
    pairs = [("word", "answer blue"), (long_prompt, "answer blue"), ("word", long_response), (long_prompt, long_response)]
    recipe = Recipe(
        mode="full", epochs=1, warmup_steps=0, lr_scheduler="constant", per_device_batch_size=4,
        gradient_accumulation_steps=1, max_length=MAX, gradient_checkpointing=False, seed=0,
    )
    stats = train_sft(pairs, str(tiny_model), tmp_path / "out", recipe)
    assert (stats["n_examples"], stats["n_dropped"]) == (4, 0)
    assert (stats["prompts_truncated"], stats["responses_truncated"]) == (2, 2)
