"""Adapter: build one tiny random-weight model (plus its short format warm-up)."""

import zlib

from transformers import AutoTokenizer

from alice_w2s.datasets.corpus import warmup_conversations
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import run_stage
from alice_w2s.tiny_models import build_tiny_model


def main(smk):
    model = smk.params.settings
    tiny = smk.params.tiny
    tokenizer = AutoTokenizer.from_pretrained(smk.input.tokenizer)
    conversations = warmup_conversations(tiny["corpus_rows"], tiny["corpus_seed"], prompts_from(smk.params))
    texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations]
    return build_tiny_model(
        smk.input.tokenizer,
        smk.output[0],
        arch=model["arch"],
        hidden_size=model["hidden_size"],
        num_layers=model["num_layers"],
        num_heads=model["num_heads"],
        intermediate_size=model["intermediate_size"],
        # Distinct weights per model name, even where two models share their sizes.
        seed=smk.params.seed + zlib.crc32(smk.wildcards.name.encode()) % 100_000,
        warmup_texts=texts,
        warmup_steps=model["warmup_steps"],
    )


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
