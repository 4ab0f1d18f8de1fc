"""Instructor-style encoding with the bundled MiniLM: the instruction is encoded
with each text but left out of the mean pooling (issue 8, item 3)."""

import numpy as np
import pandas as pd
import pytest

from alice_w2s.backends.embedding import Embedder
from alice_w2s.stages import cluster

INSTRUCTION = 'Represent the paragraph for the question "What is the capital of France?": '
TEXTS = ["The capital is Paris.", "Bananas are yellow fruit."]


@pytest.fixture(scope="module")
def embedders():
    return Embedder(pool_instruction=False), Embedder(pool_instruction=True)


def test_instruction_left_out_of_pooling_is_the_mean_over_the_text_tokens(embedders):
    excluded, included = embedders
    out = excluded.encode(TEXTS, INSTRUCTION)
    assert not np.allclose(out, included.encode(TEXTS, INSTRUCTION), atol=1e-3)
    # by hand: encode instruction + text together, average the text's token vectors only
    model = excluded._model
    prompt_tokens = len(model.tokenizer(INSTRUCTION)["input_ids"]) - 1  # [CLS] + instruction, not [SEP]
    for text, vector in zip(TEXTS, out, strict=True):
        tokens = model.encode(INSTRUCTION + text, output_value="token_embeddings", convert_to_numpy=True)
        mean = np.asarray(tokens)[prompt_tokens:].mean(axis=0)
        assert np.allclose(vector, mean / np.linalg.norm(mean), atol=1e-5)


def test_included_instruction_equals_the_plain_prefix(embedders):
    _, included = embedders
    assert np.allclose(included.encode(TEXTS, INSTRUCTION), included.encode([INSTRUCTION + t for t in TEXTS]), atol=1e-5)


def test_clustering_encodes_each_question_after_its_own_instruction(embedders):
    excluded, _ = embedders
    samples = pd.DataFrame({"id": ["q", "q", "r", "r"], "sample_idx": [0, 1, 0, 1], "response": TEXTS * 2, "extracted": TEXTS * 2})
    questions = pd.DataFrame({"id": ["q", "r"], "question": ["Capital of France?", "Colour of bananas?"]})
    seen = []

    class Recording:
        def encode(self, texts, instruction=""):
            seen.append(instruction)
            return excluded.encode(texts, instruction)

    cluster.cluster_samples(
        samples, questions, "text", threshold=0.9, embedder=Recording(),
        instruction='Represent the paragraph for the question "{question}": ',
    )
    assert seen == [
        'Represent the paragraph for the question "Capital of France?": ',
        'Represent the paragraph for the question "Colour of bananas?": ',
    ]
