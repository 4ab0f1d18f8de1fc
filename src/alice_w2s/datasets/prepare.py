"""Load a dataset (toy, hub or local file), normalise it, and cut it by the
Burns et al. protocol:

- train split, by position, no shuffle: first half = teacher half (labelled, to
  fine-tune the weak teacher), second half = transfer half (its questions are the
  unlabelled pool; its gold is used only by the Weak/Strong baselines);
- the transfer half may be cut to its first ``transfer_fraction`` and/or
  ``transfer_max_rows`` rows (the reference keeps 20% for HotpotQA/TriviaQA);
- the eval split is kept whole unless ``eval_max_rows`` is set.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from alice_w2s.datasets import toy
from alice_w2s.datasets.registry import DatasetSpec, get_spec

ROW_COLUMNS = ["id", "question", "answer", "aliases", "solution", "answer_type"]


def _read_local(path: str) -> list[dict]:
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"dataset file not found: {file}")
    if file.suffix == ".parquet":
        return pd.read_parquet(file).to_dict("records")
    if file.suffix in (".jsonl", ".json"):
        with file.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]
    raise ValueError(f"{file}: dataset files must be .parquet or .jsonl")


def load_records(spec: DatasetSpec, cfg: dict, part: str) -> list[dict]:
    """Hub-shaped records of ``part`` ('train' or 'eval') for one configured dataset."""
    source = cfg["source"]
    if source == "toy":
        toy_cfg = cfg["toy"]
        records = toy.generate(spec.name, toy_cfg["n_train"] + toy_cfg["n_eval"], toy_cfg["seed"])
        return records[: toy_cfg["n_train"]] if part == "train" else records[toy_cfg["n_train"] :]
    if source == "local":
        return _read_local(cfg["files"][part])
    if source == "hub":
        import datasets  # heavy import, only for hub sources

        split = spec.train_split if part == "train" else spec.eval_split
        hub_id = cfg.get("hub_id") or spec.hub_id
        hub_config = cfg.get("hub_config") or spec.hub_config
        return list(datasets.load_dataset(hub_id, hub_config, split=split, revision=cfg.get("revision")))
    raise ValueError(f"dataset source must be toy, hub or local, got {source!r}")


def normalise(spec: DatasetSpec, records: list[dict], origin: str) -> pd.DataFrame:
    rows = []
    for position, record in enumerate(records):
        try:
            row = spec.normalize(record, position)
        except (KeyError, TypeError) as err:
            raise ValueError(f"{origin}: record {position} lacks the {spec.name} field {err}") from None
        rows.append({**row, "answer_type": spec.answer_type})
    df = pd.DataFrame(rows, columns=ROW_COLUMNS)
    duplicated = df["id"][df["id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"{origin}: duplicate id {duplicated.iloc[0]!r}")
    return df


def _head(df: pd.DataFrame, max_rows: int | None) -> pd.DataFrame:
    return df if max_rows is None else df.iloc[:max_rows]


def split_train(train: pd.DataFrame, cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Teacher half and (cut) transfer half, by position."""
    middle = len(train) // 2
    teacher = _head(train.iloc[:middle], cfg.get("teacher_max_rows"))
    transfer = train.iloc[middle:]
    fraction = cfg.get("transfer_fraction", 1.0)
    transfer = transfer.iloc[: math.ceil(len(transfer) * fraction)]
    transfer = _head(transfer, cfg.get("transfer_max_rows"))
    return teacher.reset_index(drop=True), transfer.reset_index(drop=True)


def prepare(name: str, cfg: dict) -> dict[str, pd.DataFrame]:
    """The three parts of one configured dataset: teacher, transfer, eval."""
    spec = get_spec(cfg["kind"])
    train = normalise(spec, load_records(spec, cfg, "train"), f"dataset {name} (train)")
    evaluation = normalise(spec, load_records(spec, cfg, "eval"), f"dataset {name} (eval)")
    teacher, transfer = split_train(train, cfg)
    if teacher.empty or transfer.empty:
        raise ValueError(f"dataset {name}: the train split has {len(train)} rows, too few to cut in two halves")
    return {"teacher": teacher, "transfer": transfer, "eval": _head(evaluation, cfg.get("eval_max_rows"))}


def read_pool(transfer_path: str | Path, pool: str) -> pd.DataFrame:
    """The transfer questions of one pool (``all`` or slice ``s{k}of{n}``)."""
    from alice_w2s.plan import select_pool

    transfer = pd.read_parquet(transfer_path)
    return transfer.iloc[select_pool(len(transfer), pool)]
