"""Tiny local tokenizer and models: build, load, chat template, warmup."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from alice_w2s.tiny_models import build_tiny_model, build_tokenizer

TINY = {"hidden_size": 128, "num_layers": 2, "num_heads": 2, "intermediate_size": 256}


def toy_corpus(n: int = 200, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        out.append(f"Question: what is {a} plus {b}?\nAnswer: {a} + {b} = {a + b}.")
    return out


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "tokenizer"
    build_tokenizer(toy_corpus(), out, vocab_size=512)
    return out


@pytest.fixture(scope="module")
def qwen(tok_dir: Path) -> tuple[Path, dict[str, Any]]:
    out = tok_dir.parent / "qwen2"
    stats = build_tiny_model(
        tok_dir,
        out,
        arch="qwen2",
        seed=0,
        warmup_texts=toy_corpus(),
        warmup_steps=15,
        **TINY,
    )
    return out, stats


def test_tokenizer_chat_template_and_round_trip(tok_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    assert tok.bos_token is None
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is 2 plus 3?"},
    ]
    rendered = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nwhat is 2 plus 3?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    no_prompt = tok.apply_chat_template(chat, tokenize=False)
    assert not no_prompt.endswith("<|im_start|>assistant\n")
    # special tokens are single ids; byte-level decoding round-trips arbitrary text
    assert tok("<|im_start|>user", add_special_tokens=False)["input_ids"][0] == (
        tok.convert_tokens_to_ids("<|im_start|>")
    )
    text = "Question:  two  spaces\nand a newline\n\ttab, unseen bytes: é ü 字"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text


def test_tokenizer_is_deterministic(tok_dir: Path, tmp_path: Path) -> None:
    build_tokenizer(toy_corpus(), tmp_path / "again", vocab_size=512)
    assert (tmp_path / "again" / "tokenizer.json").read_text() == (
        tok_dir / "tokenizer.json"
    ).read_text()


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_tiny_model_loads(arch: str, tok_dir: Path, qwen: tuple[Path, Any]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if arch == "qwen2":
        out = qwen[0]
    else:
        out = tok_dir.parent / "llama"
        stats = build_tiny_model(tok_dir, out, arch="llama", seed=1, **TINY)
        assert stats["final_warmup_loss"] is None and stats["n_params"] > 0
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == arch
    assert model.config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    assert (out / "model.safetensors").exists()
    ids = tok("Question: what is 1 plus 2?", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tok))
    assert not list(out.parent.glob(".*tmp-*"))  # atomic build leaves no temp dirs


def test_same_seed_same_weights(tok_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        build_tiny_model(tok_dir, out, arch="llama", seed=3, **TINY)
    assert (a / "model.safetensors").read_bytes() == (
        b / "model.safetensors"
    ).read_bytes()


def test_head_dim_must_be_64(tok_dir: Path, tmp_path: Path) -> None:
    dims = {**TINY, "num_heads": 8}  # 128 / 8 = 16
    with pytest.raises(ValueError, match="hidden_size=128 / num_heads=8"):
        build_tiny_model(tok_dir, tmp_path / "bad", arch="qwen2", seed=0, **dims)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="arch"):
        build_tiny_model(tok_dir, tmp_path / "bad", arch="gpt2", seed=0, **TINY)


def test_warmup_lowers_loss(qwen: tuple[Path, dict[str, Any]]) -> None:
    stats = qwen[1]
    assert stats["final_warmup_loss"] < stats["initial_warmup_loss"]
    assert stats["seconds"] > 0


def test_rebuild_replaces_existing_dir(tok_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    build_tiny_model(tok_dir, out, arch="qwen2", seed=0, **TINY)
    assert not (out / "stale.txt").exists() and (out / "config.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
