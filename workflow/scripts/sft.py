"""Adapter: fine-tune a base model on a training set (question -> label)."""

import logging
import shutil

from alice_w2s.backends.sft import Recipe, accumulation_steps, train_sft_launched
from alice_w2s.datasets.registry import get_spec
from alice_w2s.io import atomic_dir, read_parquet
from alice_w2s.prompts import prompts_from
from alice_w2s.runner import plain, run_stage


def main(smk):
    spec = get_spec(smk.params.kind)
    prompts = prompts_from(smk.params)
    labels = read_parquet(smk.input.labels, required=("id", "question", "label"))
    labels = labels[labels["label"].notna() & (labels["label"].str.strip() != "")]
    examples = [(prompts.question(spec.answer_type, q), label) for q, label in zip(labels["question"], labels["label"], strict=True)]
    settings = plain(smk.params.recipe)
    min_examples = settings.pop("min_examples")
    if len(examples) < min_examples:
        raise ValueError(f"{smk.input.labels}: {len(examples)} training examples, fewer than sft.min_examples={min_examples}")
    if not examples:
        # Allowed only with sft.min_examples: 0 (the embedded default): keep the base as it is.
        logging.getLogger("alice_w2s").warning("no training examples in %s: passing the base model through", smk.input.labels)
        with atomic_dir(smk.output[0]) as tmp:
            shutil.copytree(smk.params.base["path"], tmp, dirs_exist_ok=True)
        return {"n_examples": 0, "passthrough": True}
    # Several GPUs: one process each, through accelerate launch; the accumulation
    # keeps the configured effective batch whatever their number.
    processes = max(1, int(smk.resources.gpu))
    effective = settings.pop("effective_batch_size")
    settings["gradient_accumulation_steps"] = accumulation_steps(effective, settings["per_device_batch_size"], processes)
    recipe = Recipe.from_dict({**settings, "seed": smk.params.seed})
    return train_sft_launched(examples, smk.params.base["path"], smk.output[0], recipe, processes=processes)


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
