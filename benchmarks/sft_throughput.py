"""Fine-tuning throughput and memory: the first release's batches against
length-grouped batches with logits on response positions only, those packed into
padding-free rows, and with the loss chunked over response tokens
(alice_w2s.backends.sft, sft_packing).

Each way runs in a fresh process on the same model, examples, seed and batch size
(8, one epoch): forward, backward and an AdamW step per batch, as Trainer does.
Printed per way: real (non-pad) tokens per second, the padded share of the
batches, the process's peak resident memory, and that peak above the memory held
once the model is loaded (what training itself adds: activations, logits,
gradients, optimizer state).

    .venv/bin/python benchmarks/sft_throughput.py                  # LoRA and full, built-in examples
    .venv/bin/python benchmarks/sft_throughput.py --labels results/labels/toy_facts/synthesized/X.parquet

The built-in examples are the embedded default's shapes: toy_arithmetic questions
with their worked solutions (GSM8K's format) and toy_facts questions with a short
answer, interleaved, in our question prompts. ``--labels`` takes any training set of
the workflow (columns question, label) instead.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from alice_w2s.backends.sft import CHUNKED, RESPONSE_POSITIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))

WAYS = {
    # name: (length-grouped batches, the loss's logits path, packed rows); "model" is the
    # model's own loss over full logits, the others are backends.sft's loss_path values
    "random batches, full logits (before)": (False, "model", False),
    "length-grouped, full logits": (True, "model", False),
    "length-grouped, response logits": (True, RESPONSE_POSITIONS, False),
    "... and packed rows": (True, RESPONSE_POSITIONS, True),
    "... and the chunked loss (now)": (True, CHUNKED, True),
}
NOW = "... and the chunked loss (now)"
BATCH = 8


PROMPTS = Path(__file__).resolve().parents[1] / "resources" / "prompts"


def builtin_pairs(n: int) -> list[tuple[str, str]]:
    from alice_w2s.datasets.facts import generate
    from alice_w2s.prompts import Prompts

    prompts = Prompts(PROMPTS)
    arithmetic = generate("toy_arithmetic", n, seed=0)
    facts = generate("toy_facts", n, seed=0)
    pairs = []
    for a, f in zip(arithmetic, facts, strict=True):
        pairs.append((prompts.question("number", a["question"]), a["answer"]))
        pairs.append((prompts.question("text", f["question"]), f"Answer: {f['answer']['value']}"))
    return pairs[:n]


def parquet_pairs(path: str, n: int, answer_type: str) -> list[tuple[str, str]]:
    import pandas as pd

    from alice_w2s.prompts import Prompts

    prompts = Prompts(PROMPTS)
    frame = pd.read_parquet(path).dropna(subset=["label"])
    return [(prompts.question(answer_type, q), label) for q, label in zip(frame["question"], frame["label"], strict=True)][:n]


def rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def worker(model_dir: str, pairs: list[tuple[str, str]], mode: str, grouped: bool, logits: str,
           packed: bool) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from alice_w2s.backends.sft import response_only_loss
    from alice_w2s.backends.sft_examples import PadCollator, build_training_set
    from alice_w2s.backends.sft_packing import PackCollator, packing_cost

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples, _ = build_training_set(tokenizer, pairs, max_length=384)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, lora_dropout=0.0,
                                                 target_modules="all-linear"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    loaded = current_rss_mib()
    generator = torch.Generator().manual_seed(0)
    if grouped:
        order = list(LengthGroupedSampler(BATCH, lengths=[len(e["input_ids"]) for e in examples], generator=generator))
    else:
        order = torch.randperm(len(examples), generator=generator).tolist()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collator = PackCollator(pad_id, packing_cost(model)[0]) if packed else PadCollator(pad_id)
    batches = [collator([examples[i] for i in order[s:s + BATCH]]) for s in range(0, len(order), BATCH)]
    losses = []
    started = time.perf_counter()
    for batch in batches:
        if logits != "model":
            loss, _ = response_only_loss(model, batch, None, logits)
        else:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "real_tokens": collator.real_tokens,
        "batch_tokens": collator.batch_tokens,
        "peak_mib": rss_mib(),
        "above_load_mib": rss_mib() - loaded,
        "first_loss": losses[0],
        "mean_loss": sum(losses) / len(losses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", help="a training-set parquet (question, label) instead of the built-in examples")
    parser.add_argument("--answer-type", default="number", help="the --labels set's question template")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--modes", default="lora,full")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(worker(**spec)))
        return

    from bench_models import model_folder

    folder, description = model_folder()
    pairs = parquet_pairs(args.labels, args.examples, args.answer_type) if args.labels else builtin_pairs(args.examples)
    print(f"model: {description}; {len(pairs)} examples, batch {BATCH}, one epoch; "
          f"data: {args.labels or 'built-in toy_arithmetic + toy_facts'}")
    for mode in args.modes.split(","):
        print(f"\n{mode}:")
        print(f"{'way':40s} {'seconds':>8s} {'real tok/s':>10s} {'padding':>8s} {'peak MiB':>9s} {'above load':>10s}")
        results = {}
        for name, (grouped, logits, packed) in WAYS.items():
            spec = {"model_dir": str(folder), "pairs": pairs, "mode": mode, "grouped": grouped,
                    "logits": logits, "packed": packed}
            out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], check=True,
                                 capture_output=True, text=True).stdout
            r = results[name] = json.loads(out.strip().splitlines()[-1])
            r["tokens_per_s"] = r["real_tokens"] / r["seconds"]
            padding = 1 - r["real_tokens"] / r["batch_tokens"]
            print(f"{name:40s} {r['seconds']:8.2f} {r['tokens_per_s']:10.1f} {padding:8.1%} "
                  f"{r['peak_mib']:9.0f} {r['above_load_mib']:10.0f}", flush=True)
        before, now = results["random batches, full logits (before)"], results[NOW]
        unpacked, packed = results["length-grouped, response logits"], results["... and packed rows"]
        for a, b, what in ((packed, unpacked, "packed rows over unpacked"), (now, packed, "chunked over unchunked")):
            print(f"{what}: {a['tokens_per_s'] / b['tokens_per_s']:.2f}x real tokens/s, "
                  f"{b['above_load_mib'] / max(a['above_load_mib'], 1):.2f}x less memory above the loaded model; "
                  f"mean loss {a['mean_loss']:.6f} against {b['mean_loss']:.6f}")
        print(f"now over before: {now['tokens_per_s'] / before['tokens_per_s']:.2f}x real tokens/s (goal >= 1.5x), "
              f"{before['above_load_mib'] / max(now['above_load_mib'], 1):.2f}x less memory above the loaded model "
              f"(goal >= 2x), peak {before['peak_mib'] / now['peak_mib']:.2f}x")


if __name__ == "__main__":
    main()
