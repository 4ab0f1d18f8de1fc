"""vLLM against transformers `generate` on the same model and prompts, through our two
backends (alice_w2s.backends.generation), sampling n responses per prompt as the
stages do. Each backend runs in a fresh process (vLLM changes torch's thread count
for its own use); the model is opened and warmed up before the timed call:

    .venv/bin/python benchmarks/vllm_vs_transformers.py [--questions 8] [--n 4] [--max-new-tokens 64]

Only real tokens count: vLLM reports what it generated, and the transformers
backend counts each response up to its first stop token (padding and what follows
a stop are not tokens). Prints each backend's time and tokens per second, and the
ratio; also transformers' token slots (padding included), which is what it computed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from bench_models import chats
from alice_w2s.backends.generation import Sampling, open_generator
if __name__ == "__main__":
    backend, folder, questions, n, max_new = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    options = {"vllm": {"max_model_len": 1024, "gpu_memory_utilization": 0.3, "enforce_eager": True, "dtype": "float32"},
               "transformers": {"batch_size": questions, "dtype": "float32"}}[backend]
    gen = open_generator(backend, folder, options)
    sampling = Sampling(temperature=0.9, top_p=0.95, max_new_tokens=max_new, n=n, seed=0)
    gen.generate(chats(2), Sampling(temperature=0.9, top_p=0.95, max_new_tokens=8, n=2, seed=1))  # warm-up
    result = gen.generate(chats(questions), sampling)
    slots = None
    if backend == "transformers":
        # what generate computed: every sequence of a batch runs to its longest member
        tok = gen.tokenizer
        longest = [max(len(tok.encode(t, add_special_tokens=False)) for t in texts) for texts in result.texts]
        slots = n * max(longest) * len(result.texts)
    gen.close()
    print("RESULT " + json.dumps({"seconds": result.seconds, "tokens": result.completion_tokens, "slots": slots,
                                  "length_stopped": result.length_stopped}))
"""


def run(backend: str, folder: str, args: argparse.Namespace) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    command = [sys.executable, "-c", CHILD, here, backend, folder, str(args.questions), str(args.n), str(args.max_new_tokens)]
    done = subprocess.run(command, capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode or line is None:
        sys.exit(f"{backend} run failed:\n{done.stderr[-3000:]}")
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    from bench_models import model_folder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    folder, described = model_folder()
    results = {backend: run(backend, str(folder), args) for backend in ("vllm", "transformers")}
    print(f"model: {described}; {args.questions} prompts x n={args.n}, max {args.max_new_tokens} new tokens, "
          f"temperature 0.9; transformers in one batch of {args.questions} prompts")
    print(f"{'backend':14s} {'seconds':>8s} {'real tokens':>12s} {'tokens/s':>9s} {'cut by max':>11s}")
    for backend, r in results.items():
        print(f"{backend:14s} {r['seconds']:8.2f} {r['tokens']:12d} {r['tokens'] / r['seconds']:9.1f} {r['length_stopped']:11d}")
    hf = results["transformers"]
    print(f"transformers token slots (padding included, about): {hf['slots']} for {hf['tokens']} real tokens")
    vllm_rate = results["vllm"]["tokens"] / results["vllm"]["seconds"]
    print(f"vLLM over transformers, real tokens per second: {vllm_rate / (hf['tokens'] / hf['seconds']):.2f}x")


if __name__ == "__main__":
    main()
