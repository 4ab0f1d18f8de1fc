"""Adapter: normalise one dataset and cut it into teacher / transfer / eval parts."""

from alice_w2s.datasets.prepare import prepare
from alice_w2s.io import write_parquet
from alice_w2s.runner import plain, run_stage


def main(smk):
    parts = prepare(smk.params.name, plain(smk.params.settings))
    for part, frame in parts.items():
        write_parquet(frame, smk.output[part])
    return {f"{part}_rows": len(frame) for part, frame in parts.items()}


if __name__ == "__main__":
    run_stage(snakemake, main, lazy_torch=True)  # noqa: F821 - injected by Snakemake
