"""Sampling K responses per question: one request with n=K (what the `sample` stage
does) against K copies of the prompt with n=1 each (what the reference script does:
`inputs = [item for item in raw_inputs for _ in range(100)]`). Same vLLM engine,
same model, same prompts, per-request seeds in both; the engine is opened and warmed
up once, then each way runs on it in turn:

    .venv/bin/python benchmarks/sampling_n_vs_copies.py [--questions 8] [--k 16] [--max-new-tokens 64]

Prints, for each way, the wall time and generated tokens per second (only real
tokens: vLLM counts what it generated), and their ratio. The copies get seeds
seed+i, which is what vLLM V1 gives the i-th child of an n=K request
(vllm/v1/engine/parallel_sampling.py): both ways then draw the same tokens.

Finding (docs/benchmarks.md): no gain. vLLM V1 expands an n=K request into K child
requests before the engine, and prefix caching (on by default) shares the prompt's
KV cache between copies as between children, so the engine does the same work.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    from bench_models import chats, model_folder
    from vllm import SamplingParams

    from alice_w2s.backends.generation import VllmGenerator, _render, _stop_ids, request_seed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    folder, described = model_folder()
    gen = VllmGenerator(str(folder), {"max_model_len": 1024, "gpu_memory_utilization": 0.3, "enforce_eager": True,
                                       "dtype": "float32", "seed": args.seed})
    tokenizer, llm = gen.tokenizer, gen.llm
    rendered = _render(tokenizer, chats(args.questions))
    prompts = [{"prompt_token_ids": tokenizer.encode(p, add_special_tokens=False)} for p in rendered]
    stops = _stop_ids(tokenizer)

    def params(n: int, seed: int) -> SamplingParams:
        return SamplingParams(n=n, temperature=0.9, top_p=0.95, max_tokens=args.max_new_tokens, seed=seed,
                              stop_token_ids=stops)

    def run(batch: list[dict], sampling: list[SamplingParams]) -> tuple[float, int]:
        start = time.perf_counter()
        outputs = llm.generate(batch, sampling, use_tqdm=False)
        return time.perf_counter() - start, sum(len(c.token_ids) for o in outputs for c in o.outputs)

    run(prompts[:2], [params(2, 1)] * 2)  # warm-up, out of the timings
    seeds = [request_seed(args.seed, p) for p in rendered]
    one_request = run(prompts, [params(args.k, s) for s in seeds])
    copies = run(
        [p for p in prompts for _ in range(args.k)],
        [params(1, (s + i) & 0x7FFFFFFF) for s in seeds for i in range(args.k)],
    )
    caching = llm.llm_engine.vllm_config.cache_config.enable_prefix_caching
    prompt_len = sum(len(p["prompt_token_ids"]) for p in prompts) / len(prompts)
    print(f"model: {described}; {args.questions} questions (mean prompt {prompt_len:.0f} tokens) x K={args.k}, "
          f"max {args.max_new_tokens} new tokens, temperature 0.9; vLLM prefix caching: {caching}")
    print(f"{'way':36s} {'seconds':>8s} {'tokens':>7s} {'tokens/s':>9s}")
    for name, (seconds, tokens) in (("one request per question, n=K", one_request), ("K copies of the prompt, n=1", copies)):
        print(f"{name:36s} {seconds:8.2f} {tokens:7d} {tokens / seconds:9.1f}")
    rate = (one_request[1] / one_request[0]) / (copies[1] / copies[0])
    print(f"n=K over copies: {copies[0] / one_request[0]:.2f}x faster in wall time, {rate:.2f}x in tokens/s (goal >= 1.5x)")
    gen.close()


if __name__ == "__main__":
    main()
