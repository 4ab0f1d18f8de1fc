"""Generation backends on a tiny local model (transformers always; vLLM marked slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from alice_w2s.backends.generation import (
    GenerationResult,
    Generator,
    Sampling,
    open_generator,
)
from alice_w2s.tiny_models import build_tiny_model, build_tokenizer

CHATS = [
    [{"role": "user", "content": f"Question: what is {a} plus {b}?"}]
    for a, b in [(1, 2), (30, 4), (7, 77)]
]


def _corpus() -> list[str]:
    return [
        f"<|im_start|>user\nQuestion: what is {a} plus {b}?<|im_end|>\n"
        f"<|im_start|>assistant\nAnswer: {a + b}."
        for a in range(0, 100, 7)
        for b in range(0, 100, 9)
    ]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gen")
    build_tokenizer(_corpus(), root / "tok", vocab_size=512)
    build_tiny_model(
        root / "tok",
        root / "model",
        arch="qwen2",
        hidden_size=128,
        num_layers=2,
        num_heads=2,
        intermediate_size=256,
        seed=0,
        warmup_texts=_corpus(),
        warmup_steps=10,
    )
    return root / "model"


@pytest.fixture(scope="module")
def hf_gen(model_dir: Path) -> Iterator[Generator]:
    gen = open_generator("transformers", str(model_dir), {"batch_size": 2})
    yield gen
    gen.close()


def _check(res: GenerationResult, n_prompts: int, n: int) -> None:
    assert len(res.texts) == n_prompts
    assert all(len(t) == n and all(isinstance(s, str) for s in t) for t in res.texts)
    assert res.prompt_tokens > 0 and res.completion_tokens > 0 and res.seconds >= 0


def test_transformers_greedy_is_deterministic(hf_gen: Generator) -> None:
    sampling = Sampling(max_new_tokens=12)
    first = hf_gen.generate(CHATS, sampling)
    _check(first, len(CHATS), 1)
    assert first.completion_tokens <= len(CHATS) * 12
    assert hf_gen.generate(CHATS, sampling).texts == first.texts


def test_transformers_sampling(hf_gen: Generator) -> None:
    sampling = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=12, n=3, seed=5)
    res = hf_gen.generate(CHATS, sampling)
    _check(res, len(CHATS), 3)
    assert res.completion_tokens <= len(CHATS) * 3 * 12
    assert hf_gen.generate(CHATS, sampling).texts == res.texts  # same seed, same texts
    other = hf_gen.generate(CHATS, Sampling(temperature=1.0, max_new_tokens=12, n=3))
    assert other.texts != res.texts


def test_greedy_needs_n_1_and_backend_name(hf_gen: Generator) -> None:
    with pytest.raises(ValueError, match="n == 1"):
        hf_gen.generate(CHATS, Sampling(n=2))
    with pytest.raises(ValueError, match="'vllm', 'transformers' or 'served', got 'tgi'"):
        open_generator("tgi", "unused")


VLLM_SCRIPT = textwrap.dedent(
    """
    import json, sys, time

    from alice_w2s.backends.generation import Sampling, open_generator

    if __name__ == "__main__":
        t0 = time.perf_counter()
        gen = open_generator("vllm", sys.argv[1], {"max_model_len": 512})
        startup = time.perf_counter() - t0
        chats = json.loads(sys.argv[2])
        res = gen.generate(
            chats, Sampling(temperature=1.0, max_new_tokens=16, n=4, seed=1)
        )
        greedy = gen.generate(chats, Sampling(max_new_tokens=16))
        again = gen.generate(
            chats, Sampling(temperature=1.0, max_new_tokens=16, n=4, seed=1)
        )
        # > 4096 prompt tokens: seeded requests must survive the CPU scheduler
        many = [[{"role": "user", "content": "what is 1 plus 2? " * 8}]] * 100
        big = gen.generate(many, Sampling(temperature=1.0, max_new_tokens=4, n=2))
        gen.close()
        print("RESULT " + json.dumps({
            "texts": res.texts, "greedy": greedy.texts,
            "same_seed_same": again.texts == res.texts,
            "big_prompt_tokens": big.prompt_tokens, "big_n": len(big.texts),
            "prompt_tokens": res.prompt_tokens,
            "completion_tokens": res.completion_tokens,
            "startup_s": startup, "generate_s": res.seconds,
        }))
    """
)


@pytest.mark.slow
def test_vllm_generator(model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    script = tmp_path / "run_vllm.py"
    script.write_text(VLLM_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, str(script), str(model_dir), json.dumps(CHATS)],
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    assert [len(t) for t in out["texts"]] == [4, 4, 4]
    assert all(isinstance(s, str) for t in out["texts"] for s in t)
    assert [len(t) for t in out["greedy"]] == [1, 1, 1]
    assert out["prompt_tokens"] > 0 and out["completion_tokens"] > 0
    assert out["same_seed_same"]
    assert out["big_n"] == 100 and out["big_prompt_tokens"] > 4096
    print(f"vLLM startup {out['startup_s']:.1f}s, generate {out['generate_s']:.2f}s")


def test_sampling_defaults_are_the_config_schema_s() -> None:
    from alice_w2s.schema_defaults import sampling_defaults

    defaults = sampling_defaults()
    assert (Sampling().top_p, Sampling().max_new_tokens) == (defaults["top_p"], defaults["max_new_tokens"])
