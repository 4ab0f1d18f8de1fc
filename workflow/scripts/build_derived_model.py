"""Adapter: make one derived model (source: derived) from its source's weights."""

from alice_w2s.derived_models import derive_model
from alice_w2s.runner import run_stage


def main(smk):
    source = smk.params.source
    # stats: the transform, layers before/after, and how much the rounding changed
    return derive_model(source["path"], smk.params.transform, smk.output[0], source.get("revision"))


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
