"""Adapter: convert one GGUF model (source: gguf) into a plain model folder."""

from alice_w2s.model_sources import convert_gguf, resolve_gguf
from alice_w2s.runner import run_stage


def main(smk):
    settings = smk.params.settings
    # stats carry the file's sha256 and, for a bundled model, its package's version
    return convert_gguf(resolve_gguf(settings["path"], settings["file"]), smk.output[0])


if __name__ == "__main__":
    run_stage(snakemake, main)  # noqa: F821 - injected by Snakemake
