"""Fine-tuning throughput and memory: the first release's batches against
length-grouped batches with logits on response positions only, those packed into
padding-free rows, and with the loss chunked over response tokens
(alice_w2s.backends.sft, sft_packing).

Each way runs in a fresh process on the same model, examples, seed and batch size
(8, one epoch): forward, backward and an AdamW step per batch, as Trainer does.
Every way runs ``--rounds`` times (default 2), one round of all ways after another, so
that a slow spell of this shared machine slows every way; the fastest and slowest
round's seconds are printed. Printed per way: real (non-pad) tokens per second (of
the fastest round), the padded share of the batches, the process's peak resident
memory, and that peak above the memory held once the model is loaded (what training
itself adds: activations, logits, gradients, optimizer state).

    .venv/bin/python benchmarks/sft_throughput.py                  # LoRA and full, built-in examples
    .venv/bin/python benchmarks/sft_throughput.py --labels results/labels/toy_facts/synthesized/X.parquet
    .venv/bin/python benchmarks/sft_throughput.py --modes lora --profile "... and the chunked loss (now)"

Then the bound no batching or loss path can pass on this machine: the matrix
products training these examples needs (counted by torch's FlopCounterMode with each
example alone in its batch: no padding, logits on response positions only), at the
fastest fp32 matrix-product rate on the model's shapes that any way's process reached
after its epoch in the same run.
Attention and elementwise work are left out of that count, so the bound is generous.
Each way's own matrix-product FLOPs (counted in an extra untimed pass) and the share
of its time they would take at that rate are printed with it. Two last ways show
what the recipe's other switches would trade on this machine: "now, with gradient
checkpointing" (``sft.gradient_checkpointing``: activations recomputed in the
backward pass, memory for time) and "now, in bf16" (autocast, and for LoRA a bf16
base, as ``sft.bf16`` trains on a GPU; on a CPU the workflow trains in fp32 whatever
``sft.bf16`` says).

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
from typing import NamedTuple

from alice_w2s.backends.sft import CHUNKED, RESPONSE_POSITIONS, response_only_loss

sys.path.insert(0, str(Path(__file__).resolve().parent))


class Way(NamedTuple):
    grouped: bool  # length-grouped batches
    logits: str  # "model": the model's own loss over full logits; else a backends.sft loss_path value
    packed: bool  # padding-free rows (backends.sft_packing)
    checkpointing: bool = False  # gradient checkpointing
    bf16: bool = False  # bf16 autocast (LoRA: a bf16 base), as backends.sft trains with sft.bf16


WAYS = {
    "random batches, full logits (before)": Way(False, "model", False),
    "length-grouped, full logits": Way(True, "model", False),
    "length-grouped, response logits": Way(True, RESPONSE_POSITIONS, False),
    "... and packed rows": Way(True, RESPONSE_POSITIONS, True),
    "... and the chunked loss (now)": Way(True, CHUNKED, True),
    "now, with gradient checkpointing": Way(True, CHUNKED, True, checkpointing=True),
    "now, in bf16": Way(True, CHUNKED, True, bf16=True),
}
NOW = "... and the chunked loss (now)"
CHECKPOINTED = "now, with gradient checkpointing"
BF16 = "now, in bf16"
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


def matmul_gflops(model: object, tokens: int, dtype: object) -> float:
    """The fastest matrix-product rate (GFLOP/s) this process reaches in ``dtype`` on
    the model's shapes: a batch of ``tokens`` rows through its hidden and MLP widths,
    both ways round (forward and backward products)."""
    import torch

    config = model.config.get_text_config()
    hidden, inner = config.hidden_size, config.intermediate_size
    best = 0.0
    for k, n in ((hidden, inner), (inner, hidden), (hidden, hidden)):
        a, b = torch.randn(tokens, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        a @ b  # warm up
        for _ in range(5):  # the best of five short bursts: a slow spell of the machine lowers some
            repeats = 10
            started = time.perf_counter()
            for _ in range(repeats):
                a @ b
            best = max(best, 2 * tokens * k * n * repeats / (time.perf_counter() - started) / 1e9)
    return best


def batch_loss(model: object, batch: dict, logits: str, bf16: bool) -> object:
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return model(**batch).loss if logits == "model" else response_only_loss(model, batch, None, logits)[0]


def counted_flops(model: object, batches: list, logits: str, bf16: bool) -> int:
    """The matrix-product FLOPs of forward and backward over ``batches`` (untimed)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        for batch in batches:
            batch_loss(model, batch, logits, bf16).backward()
            model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def worker(model_dir: str, pairs: list[tuple[str, str]], mode: str, grouped: bool, logits: str,
           packed: bool, checkpointing: bool = False, bf16: bool = False, bound: bool = False,
           count: bool = True, profile: bool = False) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from alice_w2s.backends.sft_examples import PadCollator, build_training_set
    from alice_w2s.backends.sft_packing import PackCollator, packing_cost

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples, _ = build_training_set(tokenizer, pairs, max_length=384)
    # as backends.sft: with bf16, LoRA trains on a bf16 base, full fine-tuning on fp32 master weights
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if bf16 and mode == "lora" else torch.float32)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, lora_dropout=0.0,
                                                 target_modules="all-linear"))
    if checkpointing:  # as backends.sft sets it up for LoRA's frozen inputs
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if bound:  # each example alone: no padding, response logits, no recompute
        real = sum(len(e["input_ids"]) for e in examples)
        flops = counted_flops(model, [PadCollator(pad_id)([e]) for e in examples], RESPONSE_POSITIONS, False)
        return {"real_tokens": real, "flops": flops}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    loaded = current_rss_mib()
    generator = torch.Generator().manual_seed(0)
    if grouped:
        order = list(LengthGroupedSampler(BATCH, lengths=[len(e["input_ids"]) for e in examples], generator=generator))
    else:
        order = torch.randperm(len(examples), generator=generator).tolist()
    collator = PackCollator(pad_id, packing_cost(model)[0]) if packed else PadCollator(pad_id)
    batches = [collator([examples[i] for i in order[s:s + BATCH]]) for s in range(0, len(order), BATCH)]
    if profile:  # one untimed epoch under torch's profiler: where the CPU time goes, by operator
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as profiler

        with profiler(activities=[ProfilerActivity.CPU]) as prof:
            for batch in batches:
                batch_loss(model, batch, logits, bf16).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        total = sum(e.self_cpu_time_total for e in ops)
        return {"ops": [(e.key, e.self_cpu_time_total / total) for e in ops[:12]]}
    losses = []
    started = time.perf_counter()
    for batch in batches:
        loss = batch_loss(model, batch, logits, bf16)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
    seconds = time.perf_counter() - started
    peak, above_load = rss_mib(), rss_mib() - loaded  # before the counting pass below
    tokens = collator.real_tokens // len(batches)
    return {
        "matmul_gflops": matmul_gflops(model, tokens, torch.float32),
        "bf16_matmul_gflops": matmul_gflops(model, tokens, torch.bfloat16),
        "seconds": seconds,
        "flops": counted_flops(model, batches, logits, bf16) if count else None,
        "real_tokens": collator.real_tokens,
        "batch_tokens": collator.batch_tokens,
        "peak_mib": peak,
        "above_load_mib": above_load,
        "first_loss": losses[0],
        "mean_loss": sum(losses) / len(losses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", help="a training-set parquet (question, label) instead of the built-in examples")
    parser.add_argument("--answer-type", default="number", help="the --labels set's question template")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--modes", default="lora,full")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs of every way (the fastest is shown)")
    parser.add_argument("--profile", metavar="WAY", choices=list(WAYS), help="instead: the share of CPU time per operator of one way's epoch")
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

    def run_worker(**spec: object) -> dict:
        spec = {"model_dir": str(folder), "pairs": pairs, **spec}
        out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    if args.profile:
        for mode in args.modes.split(","):
            ops = run_worker(mode=mode, **WAYS[args.profile]._asdict(), profile=True)["ops"]
            print(f"\n{mode}, {args.profile}: share of self CPU time by operator (torch.profiler)")
            for name, share in ops:
                print(f"{share:7.1%}  {name}")
        return

    for mode in args.modes.split(","):
        print(f"\n{mode}:")
        ideal = run_worker(mode=mode, grouped=False, logits=RESPONSE_POSITIONS, packed=False, bound=True)
        print(f"{'way':40s} {'fastest':>8s} {'slowest':>8s} {'real tok/s':>10s} {'padding':>8s} {'peak MiB':>9s} {'above load':>10s} "
              f"{'matmul GFLOP':>12s} {'at peak':>8s}")
        runs: dict[str, list[dict]] = {name: [] for name in WAYS}
        for round_ in range(args.rounds):  # every way once per round, so a slow spell of the machine hits all
            for name, way in WAYS.items():
                runs[name].append(run_worker(mode=mode, **way._asdict(), count=round_ == 0))
        # every worker measured the matrix-product rates after its epoch: the fastest of them all
        measured = [x for rounds in runs.values() for x in rounds]
        fp32_rate = max(x["matmul_gflops"] for x in measured)
        bf16_rate = max(x["bf16_matmul_gflops"] for x in measured)
        results = {}
        for name, rounds in runs.items():
            # the fastest round's time; memory, FLOPs and losses are the first round's (they do not vary)
            r = results[name] = {**rounds[0], "seconds": min(x["seconds"] for x in rounds)}
            r["tokens_per_s"] = r["real_tokens"] / r["seconds"]
            padding = 1 - r["real_tokens"] / r["batch_tokens"]
            # the share of the way's time its matrix products would take at the measured rate
            way_rate = (bf16_rate if WAYS[name].bf16 else fp32_rate) * 1e9
            print(f"{name:40s} {r['seconds']:8.2f} {max(x['seconds'] for x in rounds):8.2f} {r['tokens_per_s']:10.1f} "
                  f"{padding:8.1%} {r['peak_mib']:9.0f} {r['above_load_mib']:10.0f} {r['flops'] / 1e9:12.0f} "
                  f"{r['flops'] / way_rate / r['seconds']:8.0%}", flush=True)
        before, now = results["random batches, full logits (before)"], results[NOW]
        unpacked, packed = results["length-grouped, response logits"], results["... and packed rows"]
        for a, b, what in ((packed, unpacked, "packed rows over unpacked"), (now, packed, "chunked over unchunked")):
            print(f"{what}: {a['tokens_per_s'] / b['tokens_per_s']:.2f}x real tokens/s, "
                  f"{b['above_load_mib'] / max(a['above_load_mib'], 1):.2f}x less memory above the loaded model; "
                  f"mean loss {a['mean_loss']:.6f} against {b['mean_loss']:.6f}")
        print(f"now over before: {now['tokens_per_s'] / before['tokens_per_s']:.2f}x real tokens/s (goal >= 1.5x), "
              f"{before['above_load_mib'] / max(now['above_load_mib'], 1):.2f}x less memory above the loaded model "
              f"(goal >= 2x), peak {before['peak_mib'] / now['peak_mib']:.2f}x")
        bound = ideal["real_tokens"] / (ideal["flops"] / (fp32_rate * 1e9))
        print(f"bound: the examples' matrix products alone ({ideal['flops'] / 1e9:.0f} GFLOP, no padding, response "
              f"logits) at this machine's measured {fp32_rate:.0f} GFLOP/s: {bound:.1f} real tokens/s, "
              f"{bound / before['tokens_per_s']:.2f}x before's, {bound / now['tokens_per_s']:.2f}x now's")
        for name in (CHECKPOINTED, BF16):
            r = results[name]
            print(f"{name} over now: {r['tokens_per_s'] / now['tokens_per_s']:.2f}x real tokens/s, "
                  f"{now['above_load_mib'] / max(r['above_load_mib'], 1):.2f}x less memory above the loaded model; "
                  f"over before: {r['tokens_per_s'] / before['tokens_per_s']:.2f}x real tokens/s, "
                  f"{before['above_load_mib'] / max(r['above_load_mib'], 1):.2f}x less memory above the loaded model, "
                  f"peak {before['peak_mib'] / r['peak_mib']:.2f}x; mean loss {r['mean_loss']:.6f} against "
                  f"{now['mean_loss']:.6f}")
        print(f"fastest matrix products measured (the best of {len(measured)} workers): fp32 {fp32_rate:.0f} GFLOP/s, "
              f"bf16 {bf16_rate:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
