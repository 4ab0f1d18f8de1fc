"""Share what a run made: the training sets (Alice's and the original-W2SG
answers), teacher samples, clusters and uncertainty summaries behind one table, as a folder in the Hugging Face datasets
layout (Parquet files, a dataset card whose YAML header lists one config per kind
of artifact, each file's manifest and the run's config beside them), ready for
``huggingface-cli upload <repo> <folder> --repo-type dataset``. Nothing here uploads.

    snakemake --cores 1 results/export/table1          # the rule `export`, after the table
    python -m alice_w2s.export results/tables/table1.csv /tmp/table1-export
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from alice_w2s.io import atomic_dir, manifest_path
from alice_w2s.provenance import lineage

# results/<folder> -> the config (and folder) of the export it goes to
KINDS = {
    "labels": "training_sets",
    "w2s_answers": "w2s_answers",
    "samples": "teacher_samples",
    "clusters": "clusters",
    "uncertainty": "uncertainty_summaries",
}
ABOUT = {
    "training_sets": "what each fine-tuned model was trained on: id, question, label, source",
    "w2s_answers": "the weak teachers' single answers to the transfer questions, the original-W2SG students' labels",
    "teacher_samples": "the teachers' K sampled responses per transfer question",
    "clusters": "the clusters of those samples (sizes, representatives, the final answer's cluster)",
    "uncertainty_summaries": "the teacher's final answer and the summarizer's statement of its uncertainty",
}


# Model-key separators as words, so that a cascade (a~b~c) and a multi-teacher key
# (a+b~c) do not map to one split name
SEPARATOR_WORDS = {"~": "_to_", "+": "_and_", "@": "_by_"}


def split_name(relative: Path) -> str:
    """A split name the datasets library accepts (word characters) for a file
    ``<folder>/<dataset>/<...>.parquet`` of the results."""
    name = str(relative.with_suffix("")).split("/", 1)[1]
    for separator, word in SEPARATOR_WORDS.items():
        name = name.replace(separator, word)
    return re.sub(r"\W+", "_", name).strip("_")


def exported_artifacts(table_csv: str | Path, results: str | Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """Per export config, the Parquet artifacts (relative to ``results``) behind the
    table, and the empty ones apart: the datasets library cannot read a split of
    no rows (e.g. a cascade slice the teacher gave no label)."""
    results = Path(results)
    sources = pd.read_csv(table_csv)["source"].dropna().tolist()  # a mean row over seeds has none
    chosen: dict[str, list[Path]] = {}
    empty: list[Path] = []
    for artifact in lineage(*sources):
        relative = Path(artifact).relative_to(results)
        if relative.parts[0] in KINDS and relative.suffix == ".parquet":
            if pq.ParquetFile(results / relative).metadata.num_rows == 0:
                empty.append(relative)
            else:
                chosen.setdefault(KINDS[relative.parts[0]], []).append(relative)
    return {kind: sorted(files) for kind, files in sorted(chosen.items())}, sorted(empty)


def common_schema(tables: list[pa.Table]) -> pa.Schema:
    """One schema for a config's splits, which the datasets library needs: a column
    that is all null in one file (no summary written there) takes the type it has in
    the others."""
    return pa.unify_schemas([t.schema for t in tables], promote_options="permissive")


def dataset_card(
    title: str, table: str, artifacts: dict[str, list[Path]], empty: list[Path] = (), with_config: bool = True
) -> str:
    """README.md of the export: the YAML header the Hub reads (configs and their
    data files) and what each config holds."""
    configs = []
    for kind, files in artifacts.items():
        splits = [{"split": split_name(f), "path": f"{kind}/{f.relative_to(f.parts[0])}"} for f in files]
        if len({s["split"] for s in splits}) != len(splits):
            raise ValueError(f"two {kind} files map to one split name: {[s['split'] for s in splits]}")
        configs.append({"config_name": kind, "data_files": splits})
    header = yaml.safe_dump({"configs": configs, "tags": ["weak-to-strong", "alice"]}, sort_keys=False)
    lines = [
        "---", header.rstrip(), "---", "", f"# {title}", "",
        f"The artifacts behind the results table `{table}`, made by the alice-w2s workflow (Alice, "
        "arXiv 2504.07316). One config per kind; one split per file (dataset and model or teacher key).", "",
    ]
    lines += [f"- `{kind}` ({len(files)} file{'s' * (len(files) != 1)}): {ABOUT[kind]}" for kind, files in artifacts.items()]
    if empty:
        lines += ["", "Behind the table but empty (no rows, so no split): " + ", ".join(f"`{f}`" for f in empty) + "."]
    lines += [
        "", "Provenance: `provenance/` holds each file's manifest (the settings, inputs, counts, versions "
        "and host of the job that made it), " + ("`config.yaml` the run's config, " if with_config else "")
        + "`table.csv` the table.", "",
        "```python",
        "from datasets import load_dataset",
        f"load_dataset(\"<this repo>\", \"{next(iter(artifacts), 'training_sets')}\")",
        "```", "",
    ]
    return "\n".join(lines)


def export_table(table_csv: str | Path, results: str | Path, destination: str | Path, title: str,
                 config: dict | None = None) -> dict:
    """Write the export folder (atomically: a crash leaves no half-written one)."""
    table_csv, results = Path(table_csv), Path(results)
    artifacts, empty = exported_artifacts(table_csv, results)
    with atomic_dir(destination) as tmp:
        tmp = Path(tmp)
        for kind, files in artifacts.items():
            tables = [pq.read_table(results / relative) for relative in files]
            schema = common_schema(tables)
            for relative, table in zip(files, tables, strict=True):
                inside = relative.relative_to(relative.parts[0])
                target = tmp / kind / inside
                target.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table.select(schema.names).cast(schema), target)
                provenance = manifest_path(tmp / "provenance" / kind / inside)  # a file: beside it
                provenance.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(manifest_path(results / relative), provenance)
        shutil.copyfile(table_csv, tmp / "table.csv")
        if config is not None:
            (tmp / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False))
        (tmp / "README.md").write_text(dataset_card(title, table_csv.stem, artifacts, empty, config is not None))
    return {**{kind: len(files) for kind, files in artifacts.items()}, "empty_files": len(empty)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m alice_w2s.export results/tables/<table>.csv DESTINATION", file=sys.stderr)
        return 2
    table_csv = Path(argv[0])
    if not table_csv.exists():
        print(f"error: no table at {table_csv}: build it first (snakemake {table_csv.stem})", file=sys.stderr)
        return 1
    counts = export_table(table_csv, table_csv.parent.parent, argv[1], table_csv.stem)
    empty = counts.pop("empty_files")
    print(f"exported {sum(counts.values())} files to {argv[1]} ({empty} empty left out): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
