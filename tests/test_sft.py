"""Tests for alice_w2s.backends.sft on a tiny Qwen2 model built in the test (no network)."""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import pytest
import torch

from alice_w2s.backends.sft import Recipe, train_sft
from alice_w2s.backends.sft_examples import IGNORE_INDEX, build_training_example

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
COLOURS = ["red", "green", "blue", "yellow", "black", "white", "purple", "orange"]
THINGS = [
    "the sky", "grass", "a banana", "snow", "coal", "an apple", "a plum", "a carrot",
    "the sea", "a lemon", "a cloud", "a leaf", "a tomato", "ink", "milk", "a grape",
    "a pumpkin", "the sun", "a frog", "chalk", "a cherry", "a lime", "soot", "a rose",
    "a tangerine", "a violet", "salt", "a pine", "a ruby", "sand", "a crow", "a swan",
]
EXAMPLES = [(f"What is the colour of {x}?", "Answer: blue") for x in THINGS]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny matmuls gain nothing from 2 threads, and when other processes load the
    CPU, OpenMP spin-waiting made training ~40x slower (0.2 s -> 8.5 s) here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny byte-level-BPE tokenizer + 2-layer Qwen2 model saved to a temp dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    specials = ["<|im_start|>", "<|im_end|>", "<|pad|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [q + " " + a for q, a in EXAMPLES] + [f"Answer: {c}" for c in COLOURS] + [
        "user assistant system The quick brown fox jumps over the lazy dog."
    ]
    bpe.train_from_iterator(
        corpus * 4,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|pad|>", bos_token=None
    )
    tok.chat_template = CHATML

    torch.manual_seed(0)
    config = Qwen2Config(
        hidden_size=128,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_hidden_layers=2,
        intermediate_size=256,
        vocab_size=len(tok),
        max_position_embeddings=256,
        tie_word_embeddings=True,
        # With the default 0.02, frozen tied embeddings have row norms ~0.2, which caps
        # the logits LoRA can reach (loss floor ~3.4 nats); 0.1 leaves it room to learn.
        initializer_range=0.1,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    path = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def mean_response_loss(model_dir: Path, tokenizer, examples: list[tuple[str, str]]) -> float:
    """Mean cross-entropy over response tokens (labels != -100), computed by hand."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for prompt, response in examples:
            ex = build_training_example(tokenizer, prompt, response, max_length=512)
            assert ex is not None
            ids = torch.tensor([ex["input_ids"]])
            labels = torch.tensor(ex["labels"])
            logits = model(input_ids=ids).logits[0, :-1]
            targets = labels[1:]
            keep = targets != IGNORE_INDEX
            loss = torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="sum")
            total += float(loss)
            count += int(keep.sum())
    return total / count


def fast_recipe(**overrides) -> Recipe:
    base = dict(
        epochs=2,
        learning_rate=1e-2,
        warmup_steps=0,
        lr_scheduler="constant",
        per_device_batch_size=4,
        gradient_accumulation_steps=1,
        max_length=128,
        lora_dropout=0.0,
        seed=0,
    )
    base.update(overrides)
    return Recipe(**base)


def test_label_mask(tokenizer) -> None:
    prompt, response = "What is the colour of snow?", "Answer: white"
    ex = build_training_example(tokenizer, prompt, response, max_length=512)
    assert ex is not None
    prompt_ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
    )
    n_prompt = len(tokenizer(prompt_ids, add_special_tokens=False)["input_ids"])
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]

    ids, labels = ex["input_ids"], ex["labels"]
    assert all(isinstance(t, int) for t in ids)
    assert len(ids) == len(labels) == len(ex["attention_mask"]) == n_prompt + len(response_ids) + 1
    assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert ids[n_prompt:-1] == response_ids
    assert ids[-1] == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert set(ex["attention_mask"]) == {1}
    assert tokenizer.decode(ids[n_prompt:]) == response + "<|im_end|>"


def test_truncation(tokenizer) -> None:
    prompt, response = "What is the colour of snow?", "Answer: white"
    full = build_training_example(tokenizer, prompt, response, max_length=512)
    assert full is not None
    n_prompt = full["labels"].count(IGNORE_INDEX)
    response_ids = full["input_ids"][n_prompt:]
    # Prompt and response are each cut from the right to max_length (the reference's rule).
    assert build_training_example(tokenizer, prompt, response, max_length=0) is None
    cut = build_training_example(tokenizer, prompt, response, max_length=3)
    assert cut is not None
    assert cut["input_ids"] == full["input_ids"][:3] + response_ids[:3]
    assert cut["labels"] == [IGNORE_INDEX] * 3 + response_ids[:3]
    assert cut["labels"][-1] != tokenizer.eos_token_id


def _assert_plain_model_dir(out: Path) -> None:
    from transformers import AutoModelForCausalLM

    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names
    assert "generation_config.json" in names
    assert "tokenizer.json" in names or "tokenizer_config.json" in names
    assert not any("adapter" in n for n in names), names
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    # Readable like any freshly made dir/file (not tempfile's / safetensors' 0o700 / 0o600).
    probe = out.parent / "probe"
    probe.mkdir()
    (probe / "f").write_text("x")
    assert out.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
    for f in out.iterdir():
        assert f.stat().st_mode & 0o777 == (probe / "f").stat().st_mode & 0o777, f
    shutil.rmtree(probe)
    # No stray temp siblings left next to the output.
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_lora_training_lowers_loss(tiny_model: Path, tokenizer, tmp_path: Path) -> None:
    out = tmp_path / "sft-lora"
    out.mkdir()
    (out / "stale.txt").write_text("from a previous run")  # must be replaced wholesale
    before = mean_response_loss(tiny_model, tokenizer, EXAMPLES)
    stats = train_sft(EXAMPLES, str(tiny_model), out, fast_recipe(mode="lora", epochs=2))
    after = mean_response_loss(out, tokenizer, EXAMPLES)

    assert stats["mode"] == "lora"
    assert stats["n_examples"] == 32 and stats["n_dropped"] == 0
    assert stats["steps"] == 16  # 32 examples / 4 per step * 2 epochs
    assert 0 < stats["trainable_params"] < stats["total_params"]
    assert stats["train_loss"] > 0 and stats["seconds"] > 0
    assert after < 0.5 * before, (before, after)
    assert not (out / "stale.txt").exists()
    _assert_plain_model_dir(out)

    # the training curve: every optimizer step, in the model folder and the stats
    import pandas as pd

    from alice_w2s.backends.sft import CURVE_COLUMNS, CURVE_FILE
    from alice_w2s.training_curves import plot_curves, read_curves

    curve = pd.read_csv(out / CURVE_FILE)
    assert tuple(curve.columns) == CURVE_COLUMNS and list(curve["step"]) == list(range(1, 17))
    assert curve["learning_rate"].eq(1e-2).all() and curve["grad_norm"].gt(0).all()
    assert stats["first_loss"] == pytest.approx(curve["loss"].iloc[0]) and stats["final_loss"] < 0.5 * stats["first_loss"]
    # the report's plot: this curve, and a model trained on nothing named as such
    passthrough = tmp_path / "toy" / "key@none"
    passthrough.mkdir(parents=True)
    curves, untrained = read_curves([out, passthrough])
    assert list(curves) == [(tmp_path.name, "sft-lora")] and untrained == ["toy/key@none"]
    plot_curves(curves, untrained, tmp_path / "curves.png", "test")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_full_training(tiny_model: Path, tokenizer, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "sft-full"
    long_prompt = "What is the colour of " + "a very long thing " * 40 + "?"
    examples = EXAMPLES[:16] + [(long_prompt, "Answer: blue")]
    before = mean_response_loss(tiny_model, tokenizer, EXAMPLES[:16])
    stats = train_sft(
        examples, str(tiny_model), out, fast_recipe(mode="full", learning_rate=1e-3)
    )
    after = mean_response_loss(out, tokenizer, EXAMPLES[:16])

    assert stats["mode"] == "full"
    assert stats["n_examples"] == 17 and stats["n_dropped"] == 0 and stats["prompts_truncated"] == 1
    assert stats["trainable_params"] == stats["total_params"]
    assert after < before, (before, after)
    _assert_plain_model_dir(out)


def test_warmup_ratio_reaches_the_peak_and_stats_record_it(tiny_model: Path, tmp_path: Path) -> None:
    # 16 examples, 4 x 2 accumulated per optimizer step, 2 epochs: 4 optimizer steps
    common = dict(mode="full", learning_rate=1e-3, per_device_batch_size=4, gradient_accumulation_steps=2, lr_scheduler="constant_with_warmup")
    stats = train_sft(EXAMPLES[:16], str(tiny_model), tmp_path / "ratio", fast_recipe(**common, warmup_ratio=0.5))
    assert (stats["optimizer_steps"], stats["warmup_steps"], stats["effective_batch_size"], stats["processes"]) == (4, 2, 8, 1)
    assert stats["peak_learning_rate"] == pytest.approx(1e-3)
    # 100 fixed warm-up steps in a 4-step run: the rate never gets near the peak
    stats = train_sft(EXAMPLES[:16], str(tiny_model), tmp_path / "steps", fast_recipe(**common, warmup_steps=100))
    assert stats["warmup_steps"] == 100 and stats["peak_learning_rate"] == pytest.approx(3 / 100 * 1e-3)  # steps 0..3 of 100


def test_gradient_checkpointing_trains(tiny_model: Path, tokenizer, tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    before = mean_response_loss(tiny_model, tokenizer, EXAMPLES[:16])
    stats = train_sft(EXAMPLES[:16], str(tiny_model), out, fast_recipe(mode="lora", gradient_checkpointing=True))
    assert stats["gradient_checkpointing"] and stats["sharding"] == "none"
    assert mean_response_loss(out, tokenizer, EXAMPLES[:16]) < before


@pytest.mark.parametrize("sharding, reshard", [("full_shard", True), ("shard_grad_op", False)])
def test_fsdp_configuration_handed_to_accelerate(sharding: str, reshard: bool) -> None:
    """What Trainer passes to accelerate's FSDP plugin for each strategy (the GPU
    path; the 2-process test below runs full_shard on CPU)."""
    from transformers import TrainingArguments

    from alice_w2s.backends.sft import fsdp_arguments, uses_fsdp

    recipe = Recipe(mode="full", sharding=sharding, gradient_checkpointing=True)
    args = TrainingArguments(output_dir="unused", report_to="none", **fsdp_arguments(recipe, ["Qwen2DecoderLayer"]))
    plugin = args.fsdp_plugin_args
    assert (plugin["fsdp_version"], plugin["reshard_after_forward"], plugin["activation_checkpointing"]) == (2, reshard, True)
    assert plugin["transformer_cls_names_to_wrap"] == "Qwen2DecoderLayer" and plugin["state_dict_type"] == "FULL_STATE_DICT"
    assert uses_fsdp(recipe, 2) and not uses_fsdp(recipe, 1)
    assert not uses_fsdp(Recipe(mode="lora", sharding=sharding), 4) and not uses_fsdp(Recipe(mode="full", sharding="none"), 4)


def test_recipe_from_dict() -> None:
    r = Recipe.from_dict({"mode": "full", "learning_rate": "1e-5", "epochs": 2, "seed": "3"})
    assert r == Recipe(mode="full", learning_rate=1e-5, epochs=2.0, seed=3)
    assert Recipe.from_dict({}) == Recipe()
    with pytest.raises(ValueError, match="lerning_rate"):
        Recipe.from_dict({"lerning_rate": 1e-4})
    with pytest.raises(ValueError, match="mode"):
        Recipe.from_dict({"mode": "qlora"})
    assert Recipe.from_dict({"warmup_ratio": "0.1", "sharding": "none"}).warmup_ratio == 0.1
    with pytest.raises(ValueError, match="sharding"):
        Recipe.from_dict({"sharding": "zero3"})


def test_empty_examples_raise(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no training examples"):
        train_sft([], str(tiny_model), tmp_path / "out", Recipe())
    # All examples dropped by truncation is the same error.
    with pytest.raises(ValueError, match="no training examples"):
        train_sft(EXAMPLES[:2], str(tiny_model), tmp_path / "out", Recipe(max_length=0))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_data_parallel_training_through_accelerate_launch(tiny_model: Path, tokenizer, tmp_path: Path) -> None:
    """The multi-GPU path (one process per GPU), run as two CPU processes."""
    from alice_w2s.backends.sft_launch import train_sft_launched

    out = tmp_path / "sft-ddp"
    before = mean_response_loss(tiny_model, tokenizer, EXAMPLES[:16])
    recipe = fast_recipe(mode="full", learning_rate=1e-3, sharding="none")
    stats = train_sft_launched(EXAMPLES[:16], str(tiny_model), out, recipe, processes=2, cpu=True)
    assert stats["processes"] == 2 and stats["n_examples"] == 16 and stats["sharding"] == "none"
    # two processes really ran: each step took 4 examples from each of them
    assert stats["effective_batch_size"] == 8 and stats["optimizer_steps"] == 4
    assert mean_response_loss(out, tokenizer, EXAMPLES[:16]) < before
    _assert_plain_model_dir(out)


@pytest.mark.slow
def test_sharded_full_fine_tune_in_two_processes(tiny_model: Path, tokenizer, tmp_path: Path) -> None:
    """FSDP full_shard with activation checkpointing, as two CPU processes (gloo):
    the path a 7B full fine-tune takes on several GPUs."""
    from alice_w2s.backends.sft_launch import train_sft_launched

    out = tmp_path / "sft-fsdp"
    before = mean_response_loss(tiny_model, tokenizer, EXAMPLES[:16])
    recipe = fast_recipe(mode="full", learning_rate=1e-3, sharding="full_shard", gradient_checkpointing=True, per_device_batch_size=2, gradient_accumulation_steps=2)
    stats = train_sft_launched(EXAMPLES[:16], str(tiny_model), out, recipe, processes=2, cpu=True)
    assert stats["sharding"] == "fsdp-full_shard" and stats["processes"] == 2
    assert stats["effective_batch_size"] == 8 and stats["optimizer_steps"] == 4  # 16 examples / 8 x 2 epochs
    assert mean_response_loss(out, tokenizer, EXAMPLES[:16]) < before
    _assert_plain_model_dir(out)


def test_recipe_defaults_are_the_config_schema_s() -> None:
    from snakemake_runner import ROOT

    from alice_w2s.config import load_yaml, validate
    from alice_w2s.run_settings import sft_recipe

    config = load_yaml(ROOT / "config" / "toy.yaml")
    config["sft"] = {}  # every key from the schema's defaults
    settings = sft_recipe(validate(config), "student")
    effective = settings.pop("effective_batch_size")
    settings.pop("min_examples")
    default = Recipe()
    assert Recipe.from_dict(settings) == default  # the keys a config leaves out mean the same there and here
    assert default.mode == "full" and default.bf16 and default.gradient_accumulation_steps * default.per_device_batch_size == effective


def _labels(*labels):
    return [(f"question {i}", label) for i, label in enumerate(labels)]


def test_fine_tune_without_examples_passes_the_base_through(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    from alice_w2s.backends import sft_launch as sft

    monkeypatch.setattr(sft, "train_sft_launched", lambda *a, **k: pytest.fail("nothing may be trained"))
    settings = {"min_examples": 0, "effective_batch_size": 4, "per_device_batch_size": 4}
    stats = sft.fine_tune(_labels(None, "  ", float("nan")), str(tiny_model), tmp_path / "out", settings, 0, 1, "labels.parquet")
    assert stats == {"n_examples": 0, "passthrough": True}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in tiny_model.iterdir())


def test_fine_tune_stops_below_min_examples_and_keeps_the_effective_batch(tmp_path: Path, monkeypatch) -> None:
    from alice_w2s.backends import sft_launch as sft

    settings = {"min_examples": 2, "effective_batch_size": 16, "per_device_batch_size": 4, "mode": "lora"}
    with pytest.raises(ValueError, match=r"labels\.parquet: 1 training examples, fewer than sft\.min_examples=2"):
        sft.fine_tune(_labels("#### 1", None, ""), "base", tmp_path / "out", settings, 0, 1, "labels.parquet")
    calls = []
    monkeypatch.setattr(sft, "train_sft_launched", lambda examples, base, out, recipe, processes: calls.append((examples, recipe, processes)))
    sft.fine_tune(_labels("#### 1", None, "#### 2"), "base", tmp_path / "out", settings, 7, 2, "labels.parquet")
    (examples, recipe, processes), = calls
    assert examples == [("question 0", "#### 1"), ("question 2", "#### 2")]
    assert (recipe.gradient_accumulation_steps, recipe.seed, recipe.mode, processes) == (2, 7, "lora", 2)
    assert settings == {"min_examples": 2, "effective_batch_size": 16, "per_device_batch_size": 4, "mode": "lora"}


def _padded_batch(tokenizer, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    from alice_w2s.backends.sft_examples import PadCollator

    examples = [build_training_example(tokenizer, p, r, max_length=128) for p, r in pairs]
    return PadCollator(tokenizer.pad_token_id)(examples)


VARIED = [
    ("What is the colour of a banana?", "Answer: yellow"),
    ("What is the colour of the sky on a clear summer day over the sea?", "Answer: blue"),
    ("Colour of coal?", "It is black, as black as soot and ink. Answer: black"),
    ("What is the colour of milk?", "Answer: white"),
]


@pytest.mark.parametrize("counted", [False, True])
@pytest.mark.parametrize("path", ["response positions", "chunked at response tokens"])
def test_response_only_loss_equals_the_model_s_own_loss_and_gradients(
    tiny_model: Path, tokenizer, counted: bool, path: str, monkeypatch
) -> None:
    """Logits on response positions only, from the model's head or in chunks of 3
    response tokens (5 chunks here), give the full-logits loss and the same
    gradients, with Trainer's token count (num_items_in_batch) or a per-batch mean."""
    from transformers import AutoModelForCausalLM

    from alice_w2s.backends import sft
    from alice_w2s.backends.sft import loss_path, response_only_loss, response_positions

    monkeypatch.setattr(sft, "LOSS_CHUNK", 3)
    batch = _padded_batch(tokenizer, VARIED)
    positions = response_positions(batch["labels"])
    # far fewer positions than the padded width: the prompts need no logits
    assert 0 < len(positions) < batch["labels"].shape[1] - 1
    num_items = batch["labels"][:, 1:].ne(IGNORE_INDEX).sum() + 5 if counted else None  # +5: as if accumulated

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    assert loss_path(model, sharded=False) == sft.CHUNKED and loss_path(model, sharded=True) == sft.RESPONSE_POSITIONS
    reference = model(**batch, **({"num_items_in_batch": num_items} if counted else {})).loss
    reference.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    loss, outputs = response_only_loss(model, batch, num_items, path)
    loss.backward()
    # the model's head ran on the response positions, or on one position beside the chunks
    assert outputs.logits.shape[1] == (len(positions) if path == sft.RESPONSE_POSITIONS else 1)
    assert abs(float(loss) - float(reference)) < 1e-5, (float(loss), float(reference))
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], atol=1e-6, rtol=1e-4, msg=name)


@pytest.mark.parametrize("weights", ["float32", "bfloat16"])
def test_chunked_loss_under_mixed_precision_is_the_head_s_own(tiny_model: Path, tokenizer, weights: str) -> None:
    """Trainer's bf16 mixed precision, as accelerate sets it up (here on CPU): autocast
    around the model's forward only. The chunked loss (the head applied outside the
    forward) equals the model's own head at response positions, with fp32 master
    weights (full fine-tuning) and with a bf16 base (LoRA). On an H200 the chunks ran
    the head in fp32 (slower steps) and a bf16 base failed with a dtype error."""
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM

    from alice_w2s.backends import sft

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=getattr(torch, weights))
    accelerator = Accelerator(mixed_precision="bf16", cpu=True)
    prepared = accelerator.prepare(model)
    batch = _padded_batch(tokenizer, VARIED)
    losses = {path: float(sft.autocast_loss(accelerator, prepared, batch, None, path)[0])
              for path in (sft.RESPONSE_POSITIONS, sft.CHUNKED)}
    assert abs(losses[sft.CHUNKED] - losses[sft.RESPONSE_POSITIONS]) < 1e-5, losses
    # and the bf16 head differs from an fp32 one by more than that: the check can fail
    fp32_head = float(sft.response_only_loss(AutoModelForCausalLM.from_pretrained(tiny_model), batch)[0])
    assert abs(losses[sft.CHUNKED] - fp32_head) > 1e-4, (losses, fp32_head)


def test_chunked_loss_holds_one_chunk_of_logits_at_a_time() -> None:
    """The chunked cross-entropy keeps no logits for the backward pass (each chunk's
    are recomputed there): what autograd saves is the hidden states, the weight and
    the targets, not tokens x vocabulary."""
    from alice_w2s.backends.sft import chunked_cross_entropy

    torch.manual_seed(0)
    head = torch.nn.Linear(16, 5000, bias=False)
    hidden = torch.randn(300, 16, requires_grad=True)
    targets = torch.randint(0, 5000, (300,))
    saved: list[int] = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = chunked_cross_entropy(hidden, head, targets, chunk=64)
    assert max(saved) < 300 * 5000 / 4, saved  # no tensor of all the logits, nor of a chunk's
    reference = torch.nn.functional.cross_entropy(head(hidden), targets, reduction="sum")
    torch.testing.assert_close(loss, reference)
    loss.backward()
    grad = hidden.grad.clone()
    hidden.grad = None
    reference.backward()
    torch.testing.assert_close(grad, hidden.grad)


def test_response_only_loss_without_logits_to_keep_gives_the_same_loss(tiny_model: Path, tokenizer) -> None:
    """An architecture whose forward has no logits_to_keep gets the same loss from its
    full logits."""
    from transformers import AutoModelForCausalLM

    from alice_w2s.backends.sft import _takes_logits_to_keep, response_only_loss

    class Plain(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)

    batch = _padded_batch(tokenizer, VARIED)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    assert _takes_logits_to_keep(model) and not _takes_logits_to_keep(Plain(model))
    reference = float(model(**batch).loss)
    loss, outputs = response_only_loss(Plain(model), batch)
    assert abs(float(loss) - reference) < 1e-5


def test_group_by_length_pads_less_with_the_same_steps(tiny_model: Path, tmp_path: Path) -> None:
    """Length-grouped batches waste less of each batch on padding; the number of
    optimizer steps and the examples per step stay the recipe's."""
    short = [(f"Colour of {x}?", "Answer: red") for x in THINGS[:16]]
    long = [(f"Tell me, please, what the usual colour of {x} is, in one word after 'Answer:'?",
             "Many would say it depends on the light, but mostly it is red. Answer: red") for x in THINGS[16:]]
    examples = [pair for two in zip(short, long, strict=True) for pair in two]  # alternate: random batches mix them
    stats = {
        grouped: train_sft(examples, str(tiny_model), tmp_path / f"g{grouped}",
                           fast_recipe(mode="lora", epochs=1, group_by_length=grouped, packing=False))
        for grouped in (False, True)
    }
    assert stats[True]["steps"] == stats[False]["steps"] == 8
    assert stats[True]["group_by_length"] and not stats[False]["group_by_length"]
    assert stats[True]["padding_share"] < 0.75 * stats[False]["padding_share"], stats  # measured 0.25 vs 0.40
    assert stats[True]["loss_logits"] == "chunked at response tokens"


@pytest.mark.parametrize(
    ("user_setting", "expected"),
    [({}, "expandable_segments:True"),
     ({"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:128"}, "max_split_size_mb:128"),
     ({"PYTORCH_ALLOC_CONF": "max_split_size_mb:64"}, None)],
)
def test_fine_tune_sets_the_cuda_allocator_for_its_processes_unless_the_user_did(tmp_path: Path, monkeypatch, user_setting, expected) -> None:
    from alice_w2s.backends import sft_launch as sft

    for name in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"):
        monkeypatch.delenv(name, raising=False)
    for name, value in user_setting.items():
        monkeypatch.setenv(name, value)
    seen = []
    # what the training (and the processes accelerate launch starts) inherits
    monkeypatch.setattr(sft, "train_sft_launched", lambda *a, **k: seen.append(os.environ.get("PYTORCH_CUDA_ALLOC_CONF")))
    settings = {"min_examples": 1, "effective_batch_size": 8, "per_device_batch_size": 4}
    sft.fine_tune(_labels("#### 1"), "base", tmp_path / "out", settings, 0, 2, "labels.parquet")
    assert seen == [expected]


def test_packed_training_follows_the_padded_run_with_the_same_steps(tiny_model: Path, tmp_path: Path) -> None:
    """Padding-free batches (sft.packing, the default) train on the same batches:
    the same optimizer steps, the same curve up to floating-point rounding, and the
    manifest says how the rows were packed."""
    import pandas as pd

    from alice_w2s.training_curves import CURVE_FILE

    short = [(f"Colour of {x}?", "Answer: red") for x in THINGS[:12]]
    long = [(f"Tell me, please, what the usual colour of {x} is, in one word after 'Answer:'?",
             "Many would say it depends on the light, but mostly it is red. Answer: red") for x in THINGS[12:24]]
    examples = [pair for two in zip(short, long, strict=True) for pair in two]
    stats, curves = {}, {}
    for packing in (False, True):
        out = tmp_path / f"p{packing}"
        stats[packing] = train_sft(examples, str(tiny_model), out,
                                   fast_recipe(mode="full", epochs=1, learning_rate=1e-3, packing=packing))
        curves[packing] = pd.read_csv(out / CURVE_FILE)
    padded, packed = stats[False], stats[True]
    assert padded["packing"] == "none: off in the recipe" and packed["packing"] == "sdpa"
    assert packed["steps"] == padded["steps"] == 6 and packed["batches"] == 6, stats
    # batches of 4 long examples of one length stay 4 rows (no padding to save)
    assert packed["packed_batches"] >= 2 and packed["rows_per_batch"] < 4, stats
    assert packed["padding_share"] < 0.5 * padded["padding_share"], stats
    torch.testing.assert_close(torch.tensor(curves[True]["loss"].to_numpy()),
                               torch.tensor(curves[False]["loss"].to_numpy()), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(curves[True]["grad_norm"].to_numpy()),
                               torch.tensor(curves[False]["grad_norm"].to_numpy()), atol=1e-4, rtol=1e-3)
