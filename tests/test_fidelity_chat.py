"""Chat templates that print today's date (Llama 3.x) render the same on every
day (issue 8, item 8), at inference and in SFT."""

from __future__ import annotations

import datetime

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from alice_w2s.backends.generation import _render
from alice_w2s.backends.sft_examples import build_training_example
from alice_w2s.chat import CHAT_DATE, render_chat

# Llama 3.2's date logic: today's date from strftime_now unless date_string is given.
LLAMA_LIKE = (
    "{%- if not date_string is defined %}{%- if strftime_now is defined %}"
    '{%- set date_string = strftime_now("%d %b %Y") %}{%- else %}{%- set date_string = "26 Jul 2024" %}'
    "{%- endif %}{%- endif %}"
    "<s>system Today Date: {{ date_string }}</s>"
    "{%- for m in messages %}<s>{{ m['role'] }} {{ m['content'] }}</s>{%- endfor %}"
    "{%- if add_generation_prompt %}<s>assistant{%- endif %}"
)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    words = ["<unk>", "<s>", "</s>", "system", "user", "assistant", "Today", "Date:", "hi", "there", "Jul", "2024", "26"]
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    fast.chat_template = LLAMA_LIKE
    return fast


CHAT = [{"role": "user", "content": "hi"}]


def test_the_template_prints_today_unless_given_a_date(tokenizer):
    today = datetime.date.today().strftime("%d %b %Y")
    assert f"Today Date: {today}" in tokenizer.apply_chat_template(CHAT, tokenize=False)


def test_rendered_chats_carry_the_fixed_date(tokenizer):
    text = render_chat(tokenizer, CHAT, add_generation_prompt=True, tokenize=False)
    assert f"Today Date: {CHAT_DATE}" in text and text.endswith("<s>assistant")
    assert _render(tokenizer, [CHAT]) == [text]  # what the generation backends send


def test_sft_prompt_ids_carry_the_fixed_date(tokenizer):
    example = build_training_example(tokenizer, "hi", "there", max_length=64)
    expected = tokenizer(render_chat(tokenizer, CHAT, add_generation_prompt=True, tokenize=False), add_special_tokens=False)
    prompt_ids = expected["input_ids"]
    assert example["input_ids"][: len(prompt_ids)] == prompt_ids
    assert tokenizer.convert_tokens_to_ids(["Jul", "2024"])[0] in example["input_ids"]
