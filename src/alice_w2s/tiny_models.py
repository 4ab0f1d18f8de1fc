"""Tiny local causal LMs and tokenizers, built from a seed with no network access.

They stand in for hub models in config/toy.yaml and in tests: a byte-level BPE
tokenizer with a ChatML chat template, and a small random Qwen2 or Llama model,
optionally warmed up for a few steps on a corpus so its outputs take the corpus's form.
Both load with `transformers` (Auto* classes) and with vLLM (head_dim must be 64 there).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alice_w2s.io import atomic_dir

SPECIAL_TOKENS: list[str] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|pad|>"
HEAD_DIM = 64  # vLLM's CPU attention refuses small head dims (16 was refused, 64 works)
WARMUP_MAX_TOKENS = 256

CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] }}"
    "{{- '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def build_tokenizer(
    corpus: list[str], out_dir: str | Path, vocab_size: int = 1024, seed: int = 0
) -> None:
    """Train a byte-level BPE tokenizer (ChatML template) on `corpus` into `out_dir`.

    BPE training is deterministic given the corpus; `seed` is accepted for a uniform
    builder interface and recorded in the tokenizer config.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if not corpus:
        raise ValueError("build_tokenizer needs a non-empty corpus")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer, length=len(corpus))

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        bos_token=None,
        unk_token=None,
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
    hf_tok.chat_template = CHATML_TEMPLATE
    hf_tok.init_kwargs["alice_seed"] = seed
    with atomic_dir(out_dir) as tmp:
        hf_tok.save_pretrained(str(tmp))


def _warmup(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> tuple[float, float]:
    """Causal-LM training on `texts` (each + eos); return first and last step loss."""
    import torch
    from tqdm.auto import tqdm

    eos = tokenizer.eos_token
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    order: list[int] = []
    losses: list[float] = []
    for _ in tqdm(range(steps), desc="warmup", unit="step"):
        if len(order) < batch_size:  # reshuffle each pass over the texts
            order += torch.randperm(len(texts), generator=gen).tolist()
        batch, order = [texts[i] + eos for i in order[:batch_size]], order[batch_size:]
        enc = tokenizer(
            batch,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=WARMUP_MAX_TOKENS,
            add_special_tokens=False,
        )
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses[0], losses[-1]


def build_tiny_model(
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    *,
    arch: str,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    seed: int,
    warmup_texts: list[str] | None = None,
    warmup_steps: int = 0,
    warmup_lr: float = 3e-3,
    warmup_batch_size: int = 16,
    max_position_embeddings: int = 2048,
) -> dict[str, Any]:
    """Build a random (optionally warmed-up) qwen2/llama model + tokenizer in `out_dir`.

    Returns stats: n_params, initial_warmup_loss, final_warmup_loss (None without
    warmup), seconds.
    """
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    start = time.perf_counter()
    archs = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "llama": (LlamaConfig, LlamaForCausalLM),
    }
    if arch not in archs:
        raise ValueError(f"arch must be one of {sorted(archs)}, got {arch!r}")
    if num_heads <= 0 or hidden_size != HEAD_DIM * num_heads:
        raise ValueError(
            f"head_dim must be {HEAD_DIM} (vLLM CPU attention): "
            f"hidden_size={hidden_size} / num_heads={num_heads} != {HEAD_DIM}"
        )
    if warmup_steps > 0 and not warmup_texts:
        raise ValueError("warmup_steps > 0 needs warmup_texts")

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    pad_id = tokenizer.pad_token_id
    # The tokenizer has no bos (like Qwen's); the config points bos at <|endoftext|>.
    bos_id = tokenizer.bos_token_id
    if bos_id is None:
        bos_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config_cls, model_cls = archs[arch]
    config = config_cls(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32)
    model.eval()

    first_loss = final_loss = None
    if warmup_steps > 0:
        assert warmup_texts is not None
        first_loss, final_loss = _warmup(
            model,
            tokenizer,
            warmup_texts,
            steps=warmup_steps,
            lr=warmup_lr,
            batch_size=warmup_batch_size,
            seed=seed,
        )

    model.generation_config = GenerationConfig(
        bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id
    )
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        model.generation_config.save_pretrained(str(tmp))
    return {
        "n_params": sum(p.numel() for p in model.parameters()),
        "initial_warmup_loss": first_loss,
        "final_warmup_loss": final_loss,
        "seconds": time.perf_counter() - start,
    }
