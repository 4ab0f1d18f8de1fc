"""Text generation from chat prompts behind one small interface (vLLM or transformers).

`open_generator(backend, model_path, options)` returns a `Generator`; `generate` takes
chats (lists of {"role", "content"} messages), renders them with the model tokenizer's
chat template, and returns `n` completions per chat. vLLM is imported only when used.
Note: vLLM starts workers with spawn, so scripts that use it need a `__main__` guard.
Options and sampling settings a caller leaves out take the config schema's defaults
(``generation.vllm``, ``generation.transformers``, the stages' shared sampling keys).
"""

from __future__ import annotations

import gc
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from alice_w2s.chat import render_chat
from alice_w2s.schema_defaults import sampling_defaults, section_defaults

Chat = list[dict[str, str]]

# The config schema (alice_w2s/config_schema.yaml) is the one source of these defaults.
_SAMPLING = sampling_defaults()
_SEED = section_defaults()["seed"]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0 means greedy (each stage configures its own temperature)
    top_p: float = _SAMPLING["top_p"]
    max_new_tokens: int = _SAMPLING["max_new_tokens"]
    n: int = 1  # responses per prompt (one request per prompt with n samples)
    seed: int = _SEED

    def validate(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature == 0 and self.n != 1:
            raise ValueError(
                f"greedy decoding (temperature 0) needs n == 1, got n={self.n}"
            )
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class GenerationResult:
    texts: list[list[str]]  # per prompt, n strings
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    # What a served backend's server reported serving (one entry per call; a list so
    # that results of several calls or shards join by concatenation); local: empty.
    served_model: list[dict] = field(default_factory=list)
    # Responses cut by max_new_tokens (vLLM finish_reason "length"; transformers: no
    # stop token), and prompts not sent because they do not fit the engine's context
    # (their responses are empty strings).
    length_stopped: int = 0
    skipped_prompts: int = 0


class Generator(Protocol):
    # ``keys``: one string per chat that names its row (the question's id). Backends
    # that seed each request mix it into the seed, so two rows with the same prompt
    # (TriviaQA repeats questions) draw independently; None: the prompt alone.
    def generate(self, chats: list[Chat], sampling: Sampling, keys: list[str] | None = None) -> GenerationResult: ...

    def close(self) -> None: ...


def _render(tokenizer: Any, chats: list[Chat]) -> list[str]:
    return [render_chat(tokenizer, chat, add_generation_prompt=True, tokenize=False) for chat in chats]


def request_seed(seed: int, prompt: str, key: str | None = None) -> int:
    """A per-request sampling seed from the run seed, the prompt text and, when
    given, the row's key (so equal prompts of different rows draw differently)."""
    text = prompt if key is None else prompt + "\0" + key
    return zlib.crc32(text.encode(), seed & 0xFFFFFFFF) & 0x7FFFFFFF


def request_keys(keys: list[str] | None, n: int) -> list[str | None]:
    """``keys`` checked against the number of chats, or n Nones."""
    if keys is None:
        return [None] * n
    if len(keys) != n:
        raise ValueError(f"{len(keys)} request keys for {n} chats")
    return [str(k) for k in keys]


def _stop_ids(tokenizer: Any) -> list[int]:
    """Ids that end a response: <|im_end|> (if in the vocab) and the tokenizer's eos."""
    ids = [tokenizer.eos_token_id]
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.insert(0, im_end)
    return list(dict.fromkeys(i for i in ids if i is not None))


class VllmGenerator:
    def __init__(self, model_path: str, options: dict[str, Any]) -> None:
        from vllm import LLM
        from vllm.platforms import current_platform

        options = {**section_defaults("generation", "vllm"), "seed": _SEED, **options}
        kwargs: dict[str, Any] = dict(options.get("engine_kwargs", {}))
        if current_platform.is_cpu() and "enable_chunked_prefill" not in options:
            # On vLLM-CPU a seeded request whose prompt gets split by chunked prefill
            # kills the engine ("CPU Generator does not use offset"); unsplit prompts
            # keep per-request seeds usable there.
            kwargs["enable_chunked_prefill"] = False
        elif "enable_chunked_prefill" in options:
            kwargs["enable_chunked_prefill"] = bool(options["enable_chunked_prefill"])
        if current_platform.is_cpu() and int(options["tensor_parallel_size"]) == 1:
            # The engine core in this process instead of a spawned one: on CPU that
            # saves a process start and a second torch/vLLM import (an eager start
            # went from 48 s to 18 s for a tiny model, benchmarks/vllm_startup.py).
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        self.llm: Any = LLM(
            model=model_path,
            revision=options.get("revision"),
            seed=int(options["seed"]),
            dtype=options["dtype"],
            max_model_len=int(options["max_model_len"]),
            gpu_memory_utilization=float(options["gpu_memory_utilization"]),
            tensor_parallel_size=int(options["tensor_parallel_size"]),
            enforce_eager=bool(options["enforce_eager"]),
            **kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)

    def generate(self, chats: list[Chat], sampling: Sampling, keys: list[str] | None = None) -> GenerationResult:
        from vllm import SamplingParams

        sampling.validate()
        start = time.perf_counter()
        greedy = sampling.temperature == 0
        rendered = _render(self.tokenizer, chats)
        stop_ids = _stop_ids(self.tokenizer)
        # One seed per request, from the run seed, the prompt and the row's key: draws
        # differ between rows and do not depend on which other prompts share the batch.
        params = [
            SamplingParams(
                n=sampling.n,
                temperature=sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                seed=None if greedy else request_seed(sampling.seed, text, key),
                stop_token_ids=stop_ids,
            )
            for text, key in zip(rendered, request_keys(keys, len(rendered)), strict=True)
        ]
        # Token ids, not strings: vLLM would add special tokens (e.g. a second bos).
        prompts = [{"prompt_token_ids": self.tokenizer.encode(p, add_special_tokens=False)} for p in rendered]
        # vLLM refuses a prompt that leaves no room in the context, and the refusal
        # would end the whole batch: such prompts are not sent; they get empty
        # responses and are counted.
        fits = [i for i, p in enumerate(prompts) if len(p["prompt_token_ids"]) < self.max_model_len]
        outputs = self.llm.generate([prompts[i] for i in fits], [params[i] for i in fits], use_tqdm=True)
        texts: list[list[str]] = [[""] * sampling.n for _ in prompts]
        for i, out in zip(fits, outputs, strict=True):
            texts[i] = [c.text for c in out.outputs]
        return GenerationResult(
            texts=texts,
            prompt_tokens=sum(len(out.prompt_token_ids or []) for out in outputs),
            completion_tokens=sum(
                len(c.token_ids) for out in outputs for c in out.outputs
            ),
            seconds=time.perf_counter() - start,
            length_stopped=sum(c.finish_reason == "length" for out in outputs for c in out.outputs),
            skipped_prompts=len(prompts) - len(fits),
        )

    def close(self) -> None:
        if getattr(self, "llm", None) is None:
            return
        del self.llm
        self.llm = None
        gc.collect()  # best effort: the rest is freed at process exit
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class TransformersGenerator:
    def __init__(self, model_path: str, options: dict[str, Any]) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = options.get("device") or (
            "cuda" if torch.cuda.is_available() else "cpu"
        )
        self.batch_size = int({**section_defaults("generation", "transformers"), **options}["batch_size"])
        dtype = options.get("dtype", "auto")
        if dtype == "auto":
            dtype = torch.float32 if self.device == "cpu" else "auto"
        revision = options.get("revision")
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, revision=revision)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, revision=revision)
        self.model.to(self.device).eval()
        self.stop_ids = _stop_ids(self.tokenizer)

    def generate(self, chats: list[Chat], sampling: Sampling, keys: list[str] | None = None) -> GenerationResult:
        # One seed per call: rows with equal prompts already draw differently (the
        # random stream moves on), so ``keys`` is only checked.
        request_keys(keys, len(chats))
        import torch
        from tqdm.auto import tqdm

        sampling.validate()
        start = time.perf_counter()
        do_sample = sampling.temperature > 0
        sample_kwargs: dict[str, Any] = (
            {"temperature": sampling.temperature, "top_p": sampling.top_p}
            if do_sample
            else {"temperature": None, "top_p": None, "top_k": None}
        )
        prompts = _render(self.tokenizer, chats)
        texts: list[list[str]] = []
        prompt_tokens = completion_tokens = length_stopped = 0
        torch.manual_seed(sampling.seed)
        batches = range(0, len(prompts), self.batch_size)
        for i in tqdm(batches, desc="generate", unit="batch", disable=len(batches) < 2):
            enc = self.tokenizer(
                prompts[i : i + self.batch_size],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(self.device)
            with torch.inference_mode():
                out = self.model.generate(
                    **enc,
                    do_sample=do_sample,
                    num_return_sequences=sampling.n,
                    max_new_tokens=sampling.max_new_tokens,
                    eos_token_id=self.stop_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **sample_kwargs,
                )
            new = out[:, enc["input_ids"].shape[1] :].cpu()
            prompt_tokens += int(enc["attention_mask"].sum())
            for row in new.tolist():
                # count up to and including the first stop token; the rest is padding
                stop = next((j for j, t in enumerate(row) if t in self.stop_ids), None)
                completion_tokens += len(row) if stop is None else stop + 1
                length_stopped += stop is None
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            texts += [
                decoded[k : k + sampling.n] for k in range(0, len(decoded), sampling.n)
            ]
        return GenerationResult(
            texts=texts,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=time.perf_counter() - start,
            length_stopped=length_stopped,
        )

    def close(self) -> None:
        if getattr(self, "model", None) is None:
            return
        del self.model
        self.model = None
        gc.collect()


def open_generator(
    backend: str, model_path: str, options: dict[str, Any] | None = None
) -> Generator:
    """Open a generator for `model_path`; backend is "vllm" or "transformers"."""
    opts = dict(options or {})
    if backend == "vllm":
        return VllmGenerator(model_path, opts)
    if backend == "transformers":
        return TransformersGenerator(model_path, opts)
    if backend == "served":  # model_path is the server's base URL (…/v1)
        from alice_w2s.backends.served import ServedGenerator

        return ServedGenerator(model_path, opts)
    raise ValueError(
        f"generation backend must be 'vllm', 'transformers' or 'served', got {backend!r}"
    )
