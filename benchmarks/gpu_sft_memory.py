"""Real fine-tuning jobs on a CUDA GPU against the preflight's memory estimate.

Each case runs ``alice_w2s.backends.sft.train_sft`` (the code the workflow's SFT
jobs run: Trainer, bf16 autocast over fp32 master weights, gradient checkpointing,
logits on response positions only) in a fresh process, for three optimizer steps,
on a model built with random weights from the published config of one of the
paper grid's families (no download: the weights do not change memory or speed).
Printed per case: peak memory (PyTorch's allocated and reserved, and the process's
CUDA context besides), the preflight's estimate for the same size and recipe
(``alice_w2s.preflight.sft_gpu_memory``) with its parts, training seconds and real
(non-pad) tokens per second.

Examples: "worst" has prompts and responses near max_length each, of different
lengths (the sequences the preflight bounds); "gsm8k" has GSM8K-like lengths
(prompts 150-250 tokens, responses 100-400).

    python benchmarks/gpu_sft_memory.py --tokenizer DIR [--cases a,b] [--json FILE]
    python benchmarks/gpu_sft_memory.py --tokenizer DIR --tiny     # CPU smoke run of the script

``--tokenizer`` is any chat tokenizer folder (e.g. results/base_models/smollm2):
token ids are drawn below its vocabulary, so the model's own vocabulary size
(Qwen2.5's 152k) sets the logits' size. Needs a GPU except with --tiny. Each case's
CUDA allocator is its own (``PYTORCH_CUDA_ALLOC_CONF``, "-expandable" cases), since
train_sft is called directly, not through the SFT job that sets it.
Runs so far, each on one H200: benchmarks/measurements/gpu_sft_memory-h200-2026-11-29.jsonl,
gpu_sft_packing-h200-2026-11-30.jsonl (padded against packed rows) and
gpu_sft_chunked-h200-2026-11-30.jsonl (the chunked loss in its first form);
docs/gpu-and-slurm.md "Verified on a GPU".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# The published config.json of each model (architecture only).
FAMILIES = {
    "qwen2.5-0.5b": dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                         tie_word_embeddings=True, size_b=0.5),
    "qwen2.5-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                         tie_word_embeddings=True, size_b=1.5),
    "llama3.2-1b": dict(model_type="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=64, vocab_size=128256,
                        tie_word_embeddings=True, size_b=1.0),
    "qwen2.5-7b": dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                       num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                       tie_word_embeddings=False, size_b=7.0),
}
# config/paper.yaml's sft block, as one process trains it (a model with sft_gpus 1);
# packing is the recipe's default (on) unless a case says otherwise
PAPER = dict(mode="full", epochs=1, learning_rate=1e-5, weight_decay=0.01, lr_scheduler="cosine", warmup_ratio=0.1,
             per_device_batch_size=4, gradient_accumulation_steps=1, max_length=2048, bf16=True,
             gradient_checkpointing=True, sharding="full_shard", group_by_length=True)
# name: (family, recipe changes, examples, loss path, allocator setting or None)
# loss paths: "response" (train_sft's own: chunked at response tokens where sft.loss_path
# allows, which before 2026-11-30 was logits at response positions), "response-positions"
# (that earlier path), "all-logits"
# (its fallback: full logits, then indexed), "model-loss" (the model's own loss, as
# before response_only_loss)
EXPANDABLE = "expandable_segments:True"
CASES = {
    "qwen1.5b-full-worst": ("qwen2.5-1.5b", {}, "worst", "response", None),
    "qwen1.5b-full-worst-all-logits": ("qwen2.5-1.5b", {}, "worst", "all-logits", None),
    "qwen1.5b-full-gsm8k": ("qwen2.5-1.5b", {}, "gsm8k", "response", None),
    "qwen1.5b-full-gsm8k-all-logits": ("qwen2.5-1.5b", {}, "gsm8k", "all-logits", None),
    "qwen1.5b-full-gsm8k-model-loss": ("qwen2.5-1.5b", {}, "gsm8k", "model-loss", None),
    "llama1b-full-worst": ("llama3.2-1b", {}, "worst", "response", None),
    "qwen0.5b-full-nogc-1024": ("qwen2.5-0.5b", {"gradient_checkpointing": False, "max_length": 1024}, "worst",
                                "response", None),
    "qwen1.5b-lora-worst": ("qwen2.5-1.5b", {"mode": "lora"}, "worst", "response", None),
    "qwen7b-lora-worst": ("qwen2.5-7b", {"mode": "lora"}, "worst", "response", None),
    "qwen1.5b-full-worst-expandable": ("qwen2.5-1.5b", {}, "worst", "response", EXPANDABLE),
    "qwen0.5b-full-nogc-1024-expandable": ("qwen2.5-0.5b", {"gradient_checkpointing": False, "max_length": 1024},
                                           "worst", "response", EXPANDABLE),
    "qwen1.5b-lora-worst-expandable": ("qwen2.5-1.5b", {"mode": "lora"}, "worst", "response", EXPANDABLE),
    # the head inside the forward at response positions (before 2026-11-30), against the chunked loss above
    "qwen1.5b-full-worst-response-positions": ("qwen2.5-1.5b", {}, "worst", "response-positions", EXPANDABLE),
    # padded batches against padding-free packed rows (sft.packing), as SFT jobs run them
    "qwen1.5b-full-gsm8k-padded": ("qwen2.5-1.5b", {"packing": False}, "gsm8k", "response", EXPANDABLE),
    "qwen1.5b-full-gsm8k-packed": ("qwen2.5-1.5b", {"packing": True}, "gsm8k", "response", EXPANDABLE),
    "qwen1.5b-full-worst-padded": ("qwen2.5-1.5b", {"packing": False}, "worst", "response", EXPANDABLE),
    "qwen1.5b-full-worst-packed": ("qwen2.5-1.5b", {"packing": True}, "worst", "response", EXPANDABLE),
    "qwen1.5b-full-gsm8k-random-packed": ("qwen2.5-1.5b", {"packing": True, "group_by_length": False}, "gsm8k",
                                         "response", EXPANDABLE),
    "qwen1.5b-full-gsm8k-random-padded": ("qwen2.5-1.5b", {"packing": False, "group_by_length": False}, "gsm8k",
                                          "response", EXPANDABLE),
    "qwen7b-lora-gsm8k-padded": ("qwen2.5-7b", {"mode": "lora", "packing": False}, "gsm8k", "response", EXPANDABLE),
    "qwen7b-lora-gsm8k-packed": ("qwen2.5-7b", {"mode": "lora", "packing": True}, "gsm8k", "response", EXPANDABLE),
    "qwen7b-lora-worst-packed": ("qwen2.5-7b", {"mode": "lora", "packing": True}, "worst", "response", EXPANDABLE),
}
STEPS = 3
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=16)


def build_model(family: str, tokenizer_dir: Path, folder: Path, tiny: bool) -> None:
    """A random-weight model of ``family`` saved in bf16, with the tokenizer beside it."""
    if (folder / "config.json").exists():
        return
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    spec = {k: v for k, v in FAMILIES[family].items() if k != "size_b"}
    if tiny:
        spec.update(TINY, vocab_size=49152)  # the tokenizer's ids must fit
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = AutoConfig.for_model(**spec, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                  pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tmp = folder.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(folder)


def examples(kind: str, max_length: int, n: int) -> list[tuple[str, str]]:
    """``n`` (prompt, response) texts of about the kind's token lengths (common English
    words, one token each in these tokenizers)."""
    import random

    rng = random.Random(0)
    words = " the cat dog and house water red blue green one two big small tree road".split(" ")[1:]
    words = [" " + w for w in words]
    pairs = []
    for i in range(n):
        if kind == "worst":  # both near max_length, lengths differing within a batch
            p, r = max_length - 40 * (i % 4), max_length - 60 * ((i + 1) % 4)
        else:  # gsm8k
            p, r = rng.randint(150, 250), rng.randint(100, 400)
        pairs.append(("".join(rng.choices(words, k=p)), "".join(rng.choices(words, k=r))))
    return pairs


def run_case(name: str, models: Path, out: Path, tiny: bool, steps: int) -> dict:
    import torch
    import transformers

    from alice_w2s.backends import sft
    from alice_w2s.backends.sft_examples import build_training_set
    from alice_w2s.preflight import sft_gpu_memory

    family, changes, kind, loss_path, _ = CASES[name]
    recipe_dict = {**PAPER, **changes}
    if tiny:
        recipe_dict["max_length"] = 64
    recipe = sft.Recipe.from_dict(recipe_dict)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.init()
        free, total = torch.cuda.mem_get_info()
        context_gib = (total - free) / 2**30  # this process's CUDA context (and anything else on the card)
    if loss_path == "all-logits":  # the path train_sft takes for models without logits_to_keep
        sft._takes_logits_to_keep = lambda model: False
    elif loss_path == "response-positions":  # the head inside the forward, at response positions (no chunks)
        sft.loss_path = lambda model, sharded: sft.RESPONSE_POSITIONS
    elif loss_path == "model-loss":

        def model_loss(model, inputs, num_items_in_batch=None, path=None):
            extra = {"num_items_in_batch": num_items_in_batch} if num_items_in_batch is not None else {}
            outputs = model(**inputs, **extra)
            return outputs.loss, outputs

        sft.response_only_loss = model_loss
    timing = {}
    original_train = transformers.Trainer.train

    def timed_train(self, *args, **kwargs):
        started = time.perf_counter()
        result = original_train(self, *args, **kwargs)
        if cuda:
            torch.cuda.synchronize()
        timing["train_seconds"] = time.perf_counter() - started
        return result

    transformers.Trainer.train = timed_train
    original_step, step_seconds = transformers.Trainer.training_step, []

    def timed_step(self, *args, **kwargs):  # forward + backward of one batch
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = original_step(self, *args, **kwargs)
        if cuda:
            torch.cuda.synchronize()
        step_seconds.append(time.perf_counter() - started)
        return loss

    transformers.Trainer.training_step = timed_step
    pairs = examples(kind, recipe.max_length, steps * recipe.per_device_batch_size)
    target = out / name
    stats = sft.train_sft(pairs, str(models / family), target, recipe)
    shutil.rmtree(target, ignore_errors=True)
    estimate = sft_gpu_memory(FAMILIES[family]["size_b"], recipe_dict, 1)
    row = {
        "case": name, "family": family, "size_b": FAMILIES[family]["size_b"], "examples": kind, "mode": recipe.mode, "loss_path": loss_path,
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        "gradient_checkpointing": recipe.gradient_checkpointing, "max_length": recipe.max_length,
        "batch": recipe.per_device_batch_size, "loss_logits": stats["loss_logits"],
        "steps": stats["optimizer_steps"], "padding_share": stats["padding_share"],
        "packing": stats["packing"], "packed_batches": stats.get("packed_batches"),
        "rows_per_batch": stats.get("rows_per_batch"),
        "first_loss": stats["first_loss"], "final_loss": stats["final_loss"],
        "train_seconds": round(timing["train_seconds"], 2),
        "estimate_gib": round(estimate.total, 1), "estimate_parts": {k: round(v, 1) for k, v in estimate.parts.items()},
    }
    # real tokens: what the collator saw over the run (stats' padding share of batch tokens)
    real = sum(len(e["input_ids"]) for e in build_training_set(
        transformers.AutoTokenizer.from_pretrained(models / family), pairs, recipe.max_length)[0])
    row["real_tokens_per_s"] = round(real * recipe.epochs / timing["train_seconds"], 1)
    later = sorted(step_seconds[1:]) or step_seconds  # the first batch pays one-time costs
    row["step_seconds_median_after_first"] = round(later[len(later) // 2], 4)
    row["step_seconds"] = [round(x, 4) for x in step_seconds]
    if cuda:
        row["peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        row["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        row["context_gib"] = round(context_gib, 2)
        row["gpu"] = torch.cuda.get_device_name()
    row["torch"], row["transformers"] = torch.__version__, transformers.__version__
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--work", default="/tmp/alice-gpu-sft")
    parser.add_argument("--json", help="append each case's row to this JSON-lines file")
    parser.add_argument("--tiny", action="store_true", help="tiny models and sequences: a CPU check of the script")
    parser.add_argument("--steps", type=int, default=STEPS, help="optimizer steps per case")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    models, out = work / "models", work / "out"
    if args.worker:
        print(json.dumps(run_case(args.worker, models, out, args.tiny, args.steps)))
        return
    if args.build:  # in its own process, so that the cases' processes find the GPU empty
        build_model(args.build, Path(args.tokenizer), models / args.build, args.tiny)
        return
    models.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.cases.split(","):
        family, alloc_conf = CASES[name][0], CASES[name][4]
        started = time.perf_counter()
        command = [sys.executable, __file__, "--tokenizer", args.tokenizer, "--work", args.work]
        command += ["--steps", str(args.steps)] + (["--tiny"] if args.tiny else [])
        if not (models / family / "config.json").exists():
            subprocess.run(command + ["--build", family], check=True)
        env = {**os.environ, **({"PYTORCH_CUDA_ALLOC_CONF": alloc_conf} if alloc_conf else {})}
        done = subprocess.run(command + ["--worker", name], capture_output=True, text=True, env=env)
        if done.returncode:
            print(f"{name}: FAILED\n{done.stderr[-3000:]}", flush=True)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["case_seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(f"\n{'case':32s} {'peak alloc':>10s} {'reserved':>9s} {'+context':>8s} {'estimate':>8s} "
          f"{'train s':>7s} {'real tok/s':>10s} {'step s':>6s} {'loss':>11s} {'padding':>7s} {'rows':>5s}")
    for r in rows:
        print(f"{r['case']:32s} {r.get('peak_allocated_gib', float('nan')):10.1f} "
              f"{r.get('peak_reserved_gib', float('nan')):9.1f} {r.get('context_gib', float('nan')):8.1f} "
              f"{r['estimate_gib']:8.1f} {r['train_seconds']:7.1f} {r['real_tokens_per_s']:10.0f} "
              f"{r['step_seconds_median_after_first']:6.3f} {r['first_loss']:5.2f}>{r['final_loss']:5.2f} "
              f"{r['padding_share']:7.1%} {r.get('rows_per_batch') or r['batch']:5}")


if __name__ == "__main__":
    main()
