"""Load a dataset (toy, hub or local file), normalise it, and cut it by the
Burns et al. protocol:

- train split, by position, no shuffle: first half = teacher half (labelled, to
  fine-tune the weak teacher), second half = transfer half (its questions are the
  unlabelled pool; its gold is used only by the Weak/Strong baselines and to score
  the students' labels, rule label_quality);
- the transfer half may be cut to its first ``transfer_fraction`` and/or
  ``transfer_max_rows`` rows (the reference keeps 20% for HotpotQA/TriviaQA);
- the eval split is kept whole unless ``eval_max_rows`` is set;
- every record is kept (TriviaQA ``rc`` repeats questions, as the reference keeps
  them) unless ``dedupe_questions`` keeps the first of each question;
- hub and Parquet loads keep only the fields the normaliser reads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from alice_w2s.datasets import toy
from alice_w2s.datasets.registry import DatasetSpec, get_spec
from alice_w2s.io import read_parquet

ROW_COLUMNS = ["id", "question", "answer", "aliases", "lenient_aliases", "solution", "answer_type"]


def _read_local(path: str, fields: tuple[str, ...] | None = None) -> list[dict]:
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"dataset file not found: {file}")
    if file.suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet as pq

        try:
            # only the fields the normaliser reads: a TriviaQA file may hold its evidence texts
            columns = None if fields is None else [c for c in pq.read_schema(file).names if c in fields]
        except (pyarrow.ArrowException, OSError):
            columns = None  # read_parquet below names the file and the damage
        return read_parquet(file, columns=columns).to_dict("records")
    if file.suffix in (".jsonl", ".json"):
        return _read_json_lines(file)
    raise ValueError(f"{file}: dataset files must be .parquet or .jsonl")


def _read_json_lines(file: Path) -> list[dict]:
    """One JSON object per line; a bad line is an error naming the file and line."""
    records = []
    with file.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{file}, line {number}: not JSON ({err.msg}, column {err.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{file}, line {number}: a record must be a JSON object, got {type(record).__name__}")
            records.append(record)
    return records


def load_records(spec: DatasetSpec, cfg: dict, part: str) -> list[dict]:
    """Hub-shaped records of ``part`` ('train' or 'eval') for one configured dataset."""
    source = cfg["source"]
    if source == "toy":
        toy_cfg = cfg["toy"]
        records = toy.generate(spec.name, toy_cfg["n_train"] + toy_cfg["n_eval"], toy_cfg["seed"])
        return records[: toy_cfg["n_train"]] if part == "train" else records[toy_cfg["n_train"] :]
    if source == "local":
        return _read_local(cfg["files"][part], spec.fields)
    if source == "hub":
        import datasets  # heavy import, only for hub sources

        split = spec.train_split if part == "train" else spec.eval_split
        hub_id = cfg.get("hub_id") or spec.hub_id
        hub_config = cfg.get("hub_config") or spec.hub_config
        loaded = datasets.load_dataset(hub_id, hub_config, split=split, revision=cfg.get("revision"))
        if spec.fields is not None:
            loaded = loaded.select_columns([c for c in loaded.column_names if c in spec.fields])
        return list(loaded)
    raise ValueError(f"dataset source must be toy, hub or local, got {source!r}")


def normalise(spec: DatasetSpec, records: list[dict], origin: str) -> pd.DataFrame:
    if not records:
        raise ValueError(f"{origin}: the split is empty (no records)")
    rows = []
    for position, record in enumerate(records):
        try:
            row = spec.normalize(record, position)
        except KeyError as err:
            raise ValueError(f"{origin}: record {position} lacks the {spec.name} field {err}") from None
        except (TypeError, AttributeError) as err:
            # e.g. a null question, or choices that are not a {label, text} mapping
            raise ValueError(f"{origin}: record {position} has a {spec.name} field of the wrong type ({err})") from None
        rows.append({**row, "answer_type": spec.answer_type})
    df = pd.DataFrame(rows, columns=ROW_COLUMNS)
    duplicated = df["id"][df["id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"{origin}: duplicate id {duplicated.iloc[0]!r}")
    return df


def dedupe_questions(spec: DatasetSpec, records: list[dict]) -> list[dict]:
    """The first record of each question (by the spec's question key, else the text)."""
    key = spec.question_key or "question"
    seen: set = set()
    kept = []
    for record in records:
        value = record.get(key) if isinstance(record, dict) else None
        if value is None or value not in seen:
            kept.append(record)
            if value is not None:
                seen.add(value)
    return kept


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


def _origin(name: str, cfg: dict, part: str) -> str:
    """How errors name a split: the dataset, the part and, if local, the file."""
    file = f", {cfg['files'][part]}" if cfg["source"] == "local" else ""
    return f"dataset {name} ({part}{file})"


def prepare(name: str, cfg: dict) -> dict[str, pd.DataFrame]:
    """The three parts of one configured dataset: teacher, transfer, eval."""
    spec = get_spec(cfg["kind"])
    records = {part: load_records(spec, cfg, part) for part in ("train", "eval")}
    if cfg.get("dedupe_questions"):
        # off by default: the reference keeps TriviaQA's repeated questions
        records = {part: dedupe_questions(spec, rows) for part, rows in records.items()}
    train = normalise(spec, records["train"], _origin(name, cfg, "train"))
    evaluation = normalise(spec, records["eval"], _origin(name, cfg, "eval"))
    teacher, transfer = split_train(train, cfg)
    if teacher.empty or transfer.empty:
        raise ValueError(f"dataset {name}: the train split has {len(train)} rows, too few to cut in two halves")
    return {"teacher": teacher, "transfer": transfer, "eval": _head(evaluation, cfg.get("eval_max_rows"))}
