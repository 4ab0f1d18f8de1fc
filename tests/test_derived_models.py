"""Derived models (source: derived): the rounding arithmetic, dropping layers on a
tiny real model, and the config's one-line refusals. The real SmolLM2 rounded to a
weak model is checked in test_real_model.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from snakemake_runner import ROOT, planned_jobs, snakemake

from alice_w2s.config import ConfigError, load_yaml, validate
from alice_w2s.derived_models import check_transform, derive_model, round_groupwise


def test_rounding_keeps_at_most_two_to_the_bits_values_per_group_and_each_group_s_range():
    torch.manual_seed(0)
    weight = torch.randn(6, 40)  # 40 = 2 groups of 16 and a short one of 8
    rounded = round_groupwise(weight, bits=2, group_size=16)
    assert rounded.shape == weight.shape and rounded.dtype == weight.dtype
    for row, original in zip(rounded, weight, strict=True):
        for start in (0, 16, 32):
            group, before = row[start : start + 16], original[start : start + 16]
            assert len(torch.unique(group)) <= 4
            # min and max of each group are levels, and no weight moves more than half a step
            assert torch.isclose(group.min(), before.min()) and torch.isclose(group.max(), before.max())
            step = (before.max() - before.min()) / 3
            assert (group - before).abs().max() <= step / 2 + 1e-6


def test_more_bits_round_less_and_eight_bits_nearly_nothing():
    torch.manual_seed(1)
    weight = torch.randn(32, 64)
    errors = [float((round_groupwise(weight, bits, 32) - weight).norm() / weight.norm()) for bits in (2, 3, 4, 8)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.01
    # smaller groups fit their ranges more closely
    assert (round_groupwise(weight, 3, 8) - weight).norm() < (round_groupwise(weight, 3, 64) - weight).norm()


@pytest.mark.parametrize(
    ("transform", "layers", "problem"),
    [
        ({}, 4, "transform: name at least one"),
        ({"drop_layers": [1, 1]}, 4, "names a layer twice"),
        ({"drop_layers": [0, 1, 2, 3]}, 4, "drops 4 of the source's 4 layers"),
        ({"drop_layers": [4]}, 4, "layer 4 does not exist"),
        ({"drop_layers": [9]}, None, None),  # layer count unknown before the job: its job checks
        ({"round_bits": 3, "group_size": 16}, 4, None),
        ({"drop_layers": [0], "round_layers": [1]}, 3, "round_layers: names layers to round, but round_bits is not set"),
        ({"round_bits": 3, "round_layers": [1, 1]}, 3, "round_layers: [1, 1] names a layer twice"),
        ({"round_bits": 3, "round_layers": [5]}, 3, "round_layers: layer 5 does not exist"),
        ({"round_bits": 3, "round_layers": []}, 3, "round_layers: empty"),
        ({"round_bits": 3, "round_layers": [0], "drop_layers": [0]}, 3, "round_layers: layer 0 is also in drop_layers"),
        ({"round_bits": 3, "round_layers": [0, 2]}, 3, None),
    ],
)
def test_check_transform(transform, layers, problem):
    found = check_transform(transform, layers)
    assert (found is None) if problem is None else (problem in found)


def _tiny_llama(folder: Path, layers: int = 3) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", *"abcdefghij"])}
    word = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    word.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=word, eos_token="<eos>", pad_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, num_attention_heads=1, num_key_value_heads=1, num_hidden_layers=layers,
                         intermediate_size=96, vocab_size=len(vocab), max_position_embeddings=32)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_dropping_layers_keeps_the_others_in_order_and_the_model_runs(tmp_path):
    from transformers import AutoModelForCausalLM

    source = _tiny_llama(tmp_path / "source", layers=3)
    stats = derive_model(source, {"drop_layers": [1]}, tmp_path / "derived")
    assert stats["layers_before"] == 3 and stats["layers"] == 2
    before = AutoModelForCausalLM.from_pretrained(source)
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "derived")
    assert after.config.num_hidden_layers == 2
    for new, old in ((0, 0), (1, 2)):
        assert torch.equal(after.model.layers[new].mlp.up_proj.weight, before.model.layers[old].mlp.up_proj.weight)
    # the saved folder loads and generates with a KV cache
    out = after.generate(torch.tensor([[2, 3, 4]]), max_new_tokens=4, do_sample=False)
    assert out.shape == (1, 7)
    assert json.loads((tmp_path / "derived" / "derived_from.json").read_text())["transform"] == {"drop_layers": [1]}


def test_rounding_changes_the_decoder_s_linear_weights_only(tmp_path):
    from transformers import AutoModelForCausalLM

    source = _tiny_llama(tmp_path / "source")
    stats = derive_model(source, {"round_bits": 2, "group_size": 16}, tmp_path / "derived")
    before = AutoModelForCausalLM.from_pretrained(source)
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "derived")
    assert stats["rounded_tensors"] == 3 * 7 and 0 < stats["mean_relative_change"] < 1
    assert torch.equal(after.model.embed_tokens.weight, before.model.embed_tokens.weight)
    assert torch.equal(after.model.norm.weight, before.model.norm.weight)
    rounded = after.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(rounded, before.model.layers[0].self_attn.q_proj.weight)
    assert all(len(torch.unique(group)) <= 4 for group in rounded.reshape(-1, 16))


def test_a_transform_that_does_not_fit_the_source_fails_the_job_with_one_line(tmp_path):
    source = _tiny_llama(tmp_path / "source", layers=2)
    with pytest.raises(ValueError, match="drops 2 of the source's 2 layers"):
        derive_model(source, {"drop_layers": [0, 1]}, tmp_path / "derived")
    assert not (tmp_path / "derived").exists()


# --- config: one line naming the key -------------------------------------------------


def _with_derived(**model) -> dict:
    config = load_yaml(ROOT / "config" / "toy.yaml")
    config["models"]["weak"] = {"source": "derived", "gpus": 0, **model}
    return config


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"transform": {"round_bits": 3}}, "models.weak.from: required"),
        ({"from": "nope", "transform": {"round_bits": 3}}, "models.weak.from: 'nope' is not in models"),
        ({"from": "tiny-qwen-s"}, "models.weak.transform: required"),
        ({"from": "tiny-qwen-s", "transform": {"round_bits": 0}}, "models.weak.transform.round_bits: 0 is less than the minimum of 1"),
        ({"from": "tiny-qwen-s", "transform": {"drop_layers": [0, 1]}}, "models.weak.transform.drop_layers: drops 2 of the source's 2"),
        ({"from": "tiny-qwen-s", "transform": {"drop_layers": [5]}}, "models.weak.transform.drop_layers: layer 5 does not exist"),
    ],
)
def test_bad_derived_models_stop_with_one_line_naming_the_key(model, message):
    with pytest.raises(ConfigError) as err:
        validate(_with_derived(**model))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_derived_model_of_a_derived_or_served_model_is_refused():
    config = _with_derived(**{"from": "tiny-qwen-s", "transform": {"round_bits": 3}})
    config["models"]["weaker"] = {"source": "derived", "from": "weak", "transform": {"round_bits": 2}, "gpus": 0}
    with pytest.raises(ConfigError, match="models.weaker.from: 'weak' is a derived model"):
        validate(config)


def test_the_plan_builds_a_derived_model_from_its_source_s_folder(tmp_path):
    config = _with_derived(**{"from": "tiny-qwen-s", "transform": {"round_bits": 3, "group_size": 16}})
    config["tables"] = {"table1": {"datasets": ["toy_trivia"], "blocks": [{"name": "b", "chain": ["weak", "tiny-qwen-m"]}]}}
    (tmp_path / "c.yaml").write_text(json.dumps(config))
    result = snakemake(tmp_path, "-n", "table1", "--configfile", str(tmp_path / "c.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    built = [job for job in planned_jobs(result.stdout) if job["rule"] == "build_derived_model"]
    assert len(built) == 1 and built[0]["input"] == ["results/base_models/tiny-qwen-s"]
    assert built[0]["output"] == ["results/base_models/weak"]


def test_a_gguf_header_gives_its_layer_count_without_reading_tensors(tmp_path):
    import struct

    from alice_w2s.gguf_header import gguf_block_count

    def text(s):
        return struct.pack("<Q", len(s)) + s.encode()

    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 3)
    header += text("general.architecture") + struct.pack("<I", 8) + text("llama")
    header += text("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + text("a") + text("b")
    header += text("llama.block_count") + struct.pack("<II", 4, 7)
    (tmp_path / "m.gguf").write_bytes(header)
    assert gguf_block_count(str(tmp_path), "m.gguf") == 7
    (tmp_path / "bad.gguf").write_bytes(b"nope")
    assert gguf_block_count(str(tmp_path), "bad.gguf") is None
    assert gguf_block_count(str(tmp_path / "missing.gguf")) is None


def test_rounding_only_the_attention_leaves_the_mlp_as_it_was(tmp_path):
    from transformers import AutoModelForCausalLM

    source = _tiny_llama(tmp_path / "source")
    stats = derive_model(source, {"round_bits": 3, "group_size": 16, "round_modules": "attention"}, tmp_path / "derived")
    before = AutoModelForCausalLM.from_pretrained(source)
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "derived")
    assert stats["rounded_tensors"] == 3 * 4  # q, k, v, o in each of 3 layers
    assert torch.equal(after.model.layers[1].mlp.down_proj.weight, before.model.layers[1].mlp.down_proj.weight)
    assert not torch.equal(after.model.layers[1].self_attn.o_proj.weight, before.model.layers[1].self_attn.o_proj.weight)


def test_dropping_layers_renumbers_each_kept_layer_s_cache_index(tmp_path):
    from transformers import AutoModelForCausalLM

    from alice_w2s.derived_models import drop_decoder_layers

    model = AutoModelForCausalLM.from_pretrained(_tiny_llama(tmp_path / "source", layers=3))
    drop_decoder_layers(model, [0])
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1]
    assert model.config.num_hidden_layers == 2
    assert model.generate(torch.tensor([[2, 3]]), max_new_tokens=3, do_sample=False).shape == (1, 5)


def test_rounding_only_the_named_layers_counts_them_in_the_source_s_numbering(tmp_path):
    from transformers import AutoModelForCausalLM

    source = _tiny_llama(tmp_path / "source", layers=3)
    before = AutoModelForCausalLM.from_pretrained(source)
    # layer 1 dropped; round_layers [2] is the source's layer 2, now at index 1
    stats = derive_model(source, {"round_bits": 2, "group_size": 16, "drop_layers": [1], "round_layers": [2]}, tmp_path / "d")
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "d")
    assert stats["rounded_tensors"] == 7 and stats["layers"] == 2
    assert torch.equal(after.model.layers[0].mlp.up_proj.weight, before.model.layers[0].mlp.up_proj.weight)
    assert not torch.equal(after.model.layers[1].mlp.up_proj.weight, before.model.layers[2].mlp.up_proj.weight)
    assert torch.allclose(after.model.layers[1].mlp.up_proj.weight, before.model.layers[2].mlp.up_proj.weight, atol=1)

