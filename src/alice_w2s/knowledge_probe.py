"""A quick measure of a model's strength outside the workflow: greedy answers to a
small fixed set of easy questions after two worked examples. It places a derived
model (``source: derived``) between "knows nothing" and its source in the tests
and the README, and costs seconds where a table costs minutes.
"""

from __future__ import annotations

from pathlib import Path

# Two worked examples in a plain Question/Answer format: an untrained instruct model
# answers this more often than in a chat format (and a base model can too).
_PROBE_SHOTS = "Question: What is the capital city of Italy?\nAnswer: Rome\n\nQuestion: What is 12 + 30?\nAnswer: 42\n\n"


def probe_items(n_each: int = 20, seed: int = 0) -> list[tuple[str, str]]:
    """A small fixed set of easy questions (capitals and two-digit sums), for
    ``knowledge_probe``: half facts, half arithmetic."""
    import random

    from alice_w2s.datasets.facts import _COUNTRIES

    rng = random.Random(f"probe:{seed}")
    countries = rng.sample(sorted(c for c in _COUNTRIES if c != "Italy"), n_each)
    items = [(f"What is the capital city of {c}?", _COUNTRIES[c][0]) for c in countries]
    for _ in range(n_each):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        items.append((f"What is {a} + {b}?", str(a + b)))
    return items


def _answers(first_line: str, answer: str) -> bool:
    """The line is the answer, or starts with it as a whole word ("Paris, France"
    counts for Paris; "578" does not count for 57)."""
    line, answer = first_line.lower(), answer.lower()
    return line.startswith(answer) and not line[len(answer) : len(answer) + 1].isalnum()


def knowledge_probe(model_dir: str | Path, items: list[tuple[str, str]], batch_size: int = 20) -> list[bool]:
    """Greedy answers of the model in ``model_dir`` to ``items`` (question, answer)
    after two worked examples; an item counts as right when its answer is the first
    line of the completion or starts it as a whole word. Used to place a derived model between "knows
    nothing" and its source (tests, README)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    right = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        prompts = [f"{_PROBE_SHOTS}Question: {question}\nAnswer:" for question, _ in batch]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**encoded, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        for (_, answer), tokens in zip(batch, out[:, encoded["input_ids"].shape[1] :], strict=True):
            first_line = tokenizer.decode(tokens, skip_special_tokens=True).strip().split("\n")[0].strip()
            right.append(_answers(first_line, answer))
    return right
