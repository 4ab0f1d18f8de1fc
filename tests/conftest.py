"""Shared test helpers. Test data is made here, in the real datasets' shapes."""

from __future__ import annotations

import os
from collections.abc import Callable

import pandas as pd
import pytest

from alice_w2s.backends.generation import GenerationResult, Sampling

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class ScriptedGenerator:
    """A stand-in language model whose answers the test writes: it exercises a
    stage's own logic (what it asks, what it keeps). Real models are exercised
    in test_generation.py and the end-to-end run."""

    def __init__(self, answer: Callable[[str, int], str]) -> None:
        self.answer = answer
        self.calls: list[tuple[list[str], Sampling]] = []
        self.keys: list[list[str] | None] = []  # the request keys of each call

    def generate(self, chats: list[list[dict[str, str]]], sampling: Sampling, keys=None) -> GenerationResult:
        prompts = [chat[-1]["content"] for chat in chats]
        self.calls.append((prompts, sampling))
        self.keys.append(keys)
        texts = [[self.answer(p, i) for i in range(sampling.n)] for p in prompts]
        return GenerationResult(texts=texts, prompt_tokens=len(prompts), completion_tokens=sum(map(len, texts)), seconds=0.0)

    def close(self) -> None:
        pass


# Tokens a user's shell may hold while a run goes on; tests/test_secrets.py checks
# that none reaches a param, manifest, log or Snakemake record of the shared run.
RUN_SECRETS = {
    "HF_TOKEN": "hf_NotARealToken4a1c9e2b7d",
    "HUGGING_FACE_HUB_TOKEN": "hf_NotARealToken5f3e8a0c6b",
    "WANDB_API_KEY": "wandb-not-a-real-key-9d2f71c0",
    "MLFLOW_TRACKING_TOKEN": "mlflow-not-a-real-token-3b8e",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-not-a-real-password-6a1d",
}


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory):
    """Table 3 of the tiny models' grid (config/toy.yaml: direct and cascade,
    original W2SG and Alice, on toy_trivia), really run once in a copy of the
    checkout (tests that edit code or prompts edit the copy). Returns the copy's
    folder. The whole grid (all three tables) takes too long for CI; its DAG is
    checked by dry runs."""
    from snakemake_runner import copy_checkout, snakemake

    checkout = copy_checkout(tmp_path_factory.mktemp("checkout"))
    result = snakemake(checkout, "--cores", "2", "table3", timeout=1800, checkout=checkout, env=RUN_SECRETS)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return checkout


@pytest.fixture
def scripted() -> type[ScriptedGenerator]:
    return ScriptedGenerator


@pytest.fixture
def math_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["m1", "m2"],
            "question": ["What is 2 + 3?", "What is 4 * 5?"],
            "answer": ["5", "20"],
            "aliases": [[], []],
            "solution": ["2 + 3 = 5.\n#### 5", "4 * 5 = 20.\n#### 20"],
            "answer_type": ["number", "number"],
        }
    )
