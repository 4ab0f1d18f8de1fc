"""Adapter: train the tiny models' shared tokenizer on toy text."""

from alice_w2s.datasets.corpus import tokenizer_corpus
from alice_w2s.prompts import prompts_from
from alice_w2s.tiny_models import build_tokenizer


def main(smk):
    settings = smk.params.settings
    # Toy text rendered with the question templates only: a change to any other
    # prompt must not retrain the tokenizer (and with it every model).
    corpus = tokenizer_corpus(settings["corpus_rows"], settings["corpus_seed"], prompts_from(smk.params))
    build_tokenizer(corpus, smk.output[0], vocab_size=settings["vocab_size"], seed=settings["corpus_seed"])
    return {"corpus_texts": len(corpus), "vocab_size": settings["vocab_size"]}


if __name__ == "__main__":
    from alice_w2s.runner import run_stage

    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
