"""Adapter: one table's artifacts as a Hugging Face datasets folder (alice_w2s.export)."""

from alice_w2s.export import export_table
from alice_w2s.runner import plain, run_stage


def main(smk):
    return export_table(smk.input.table, smk.params.results, smk.output[0], smk.params.title, plain(smk.params.config))


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
