"""Checks of a config's local inputs that read files, before any job runs: model
folders, dataset files and their record counts against what the tables need
(``config.validate`` calls them last; hub inputs are checked by their jobs)."""

from __future__ import annotations

from pathlib import Path

from alice_w2s import plan
from alice_w2s.config import ConfigError
from alice_w2s.run_settings import split_sizes

# Eval items a table needs per dataset: with one, accuracy has no standard error and
# every bootstrap draw of PGR is the same.
MIN_EVAL_ITEMS = 2
_WEIGHTS = ("*.safetensors", "*.bin", "*.pt")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model")


def check_local_inputs(config: dict) -> None:
    """What can be known of local inputs before any job: model folders with config,
    weights and tokenizer; dataset files that exist and are not empty; eval sets and
    transfer pools large enough for the tables (hub inputs are checked by their jobs)."""
    for name, model in config["models"].items():
        if model["source"] == "local":
            _check_model_folder(f"config key models.{name}.path", Path(model["path"]))
    slices = _slices_needed(config)
    for name, dataset in config["datasets"].items():
        where = f"config key datasets.{name}"
        rows = {}
        if dataset["source"] == "toy":
            rows = {"train": dataset["toy"]["n_train"], "eval": dataset["toy"]["n_eval"]}
        elif dataset["source"] == "local":
            rows = {part: _count_records(f"{where}.files.{part}", Path(file)) for part, file in dataset["files"].items()}
        if not rows or name not in slices:
            continue
        n_eval = min(rows["eval"], dataset.get("eval_max_rows") or rows["eval"])
        if n_eval < MIN_EVAL_ITEMS:
            raise ConfigError(
                f"{where}: the eval set has {n_eval} item(s); a table needs at least {MIN_EVAL_ITEMS} (standard error, PGR interval)"
            )
        teacher, transfer = split_sizes(rows["train"], dataset)
        if teacher == 0 or transfer < slices[name]:
            raise ConfigError(
                f"{where}: the train split has {rows['train']} record(s), which leaves {teacher} for the teacher and "
                f"{transfer} for the transfer pool; the tables' longest chain cuts that pool into {slices[name]} slice(s)"
            )


def _check_model_folder(where: str, folder: Path) -> None:
    if not folder.is_dir():
        raise ConfigError(f"{where}: {folder} is not a folder (a local model folder must exist before the run)")
    files = [p.name for p in folder.iterdir() if p.is_file()]
    if "config.json" not in files:
        raise ConfigError(f"{where}: {folder} has no config.json (not a model folder)")
    if not any(Path(f).match(pattern) for f in files for pattern in _WEIGHTS):
        raise ConfigError(f"{where}: {folder} holds no weights ({', '.join(_WEIGHTS)})")
    if not any(f in files for f in _TOKENIZER_FILES):
        raise ConfigError(f"{where}: {folder} holds no tokenizer ({', '.join(_TOKENIZER_FILES)})")


def _count_records(where: str, file: Path) -> int:
    """Records in a local dataset file: Parquet's row count from its footer, or the
    non-blank lines of a JSONL file (each is checked as JSON when the data is prepared)."""
    if not file.is_file():
        raise ConfigError(f"{where}: {file} does not exist")
    if file.suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet as pq

        try:
            count = pq.read_metadata(file).num_rows
        except (pyarrow.ArrowException, OSError) as err:
            from alice_w2s.io import parquet_problem

            raise ConfigError(f"{where}: {file} is not a readable Parquet file, truncated or corrupt ({parquet_problem(err)})") from None
    else:
        with file.open("rb") as handle:
            count = sum(1 for line in handle if line.strip())
    if count == 0:
        raise ConfigError(f"{where}: {file} holds no records (empty split)")
    return count


def _slices_needed(config: dict) -> dict[str, int]:
    """Per dataset in some table, the most slices a chain there cuts its pool into."""
    needed: dict[str, int] = {}
    for table in config["tables"].values():
        for dataset, key in plan.cell_models(plan.table_cells(table)):
            needed[dataset] = max(needed.get(dataset, 1), plan.parse_key(key).links or 1)
    return needed
