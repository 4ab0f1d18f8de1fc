"""Every generation counts the responses its length limit cut (issue 8, item 5):
a high share means answers lost their final line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from alice_w2s.backends.generation import GenerationResult, Sampling, open_generator
from alice_w2s.stage_generation import generation_stats
from alice_w2s.tiny_models import build_tiny_model, build_tokenizer

CHATS = [[{"role": "user", "content": f"what is {a} plus {a}?"}] for a in range(3)]


@pytest.fixture(scope="module")
def constant_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny model whose logits are all zero, so greedy decoding always picks token
    0 (<|endoftext|>): with the usual stop tokens it never stops; with token 0 made
    the eos token it stops at once."""
    root = tmp_path_factory.mktemp("lengths")
    corpus = [f"<|im_start|>user\nwhat is {a} plus {a}?<|im_end|>\n<|im_start|>assistant\n{2 * a}" for a in range(50)]
    build_tokenizer(corpus, root / "tok", vocab_size=300)
    build_tiny_model(root / "tok", root / "base", arch="qwen2", hidden_size=64, num_layers=1, num_heads=1,
                     intermediate_size=64, seed=0)
    model = AutoModelForCausalLM.from_pretrained(root / "base", dtype=torch.float32)
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()
    tokenizer = AutoTokenizer.from_pretrained(root / "base")
    assert tokenizer.convert_ids_to_tokens(0) == "<|endoftext|>" and tokenizer.eos_token != "<|endoftext|>"
    for name, eos in (("never_stops", None), ("stops_at_once", "<|endoftext|>")):
        model.save_pretrained(root / name)
        if eos:
            tokenizer.eos_token = eos
        tokenizer.save_pretrained(root / name)
    return {"never_stops": root / "never_stops", "stops_at_once": root / "stops_at_once"}


@pytest.mark.parametrize(("model", "share"), [("never_stops", 1.0), ("stops_at_once", 0.0)])
def test_transformers_counts_length_stopped_responses(constant_models, model, share):
    generator = open_generator("transformers", str(constant_models[model]), {"batch_size": 2})
    result = generator.generate(CHATS, Sampling(max_new_tokens=4))
    generator.close()
    assert result.length_stopped == round(share * len(CHATS))
    assert generation_stats(result)["length_stopped_share"] == share


def test_stats_report_the_share_over_all_responses():
    result = GenerationResult([["a", "b"], ["c", "d"]], 0, 0, 0.0, length_stopped=1, skipped_prompts=0)
    assert generation_stats(result)["length_stopped_share"] == 0.25
