"""Label quality: a training set scored against the gold answers of the rows it
labels, as eval responses are scored (a module of its own, so the evaluation's
code, which decides every eval job's rerun, does not change with it)."""

from __future__ import annotations

import pandas as pd

from alice_w2s.datasets.registry import DatasetSpec
from alice_w2s.stages.evaluate import score_responses, summarize


def label_quality(labels: pd.DataFrame, gold_rows: pd.DataFrame, spec: DatasetSpec) -> dict:
    """How good a training set's labels are, scored like eval responses against the
    gold answers of the rows they label (the transfer pool's, for a student: gold
    no student is trained on). Blank labels (no cluster of agreeing samples, a skipped
    prompt) are not trained on: counted apart, not scored."""
    gold = gold_rows.set_index("id")
    missing = sorted(set(labels["id"]) - set(gold.index))
    if missing:
        raise ValueError(f"labels for {len(missing)} id(s) not in the gold rows, e.g. {missing[0]!r}")
    given = labels[labels["label"].fillna("").str.strip() != ""]
    quality = {
        "rows": len(labels),
        "labels": len(given),
        "sources": {str(k): int(v) for k, v in given["source"].value_counts().sort_index().items()},
        "label_accuracy": None,
        "label_accuracy_stderr": None,
        "unparsed_rate": None,
    }
    if len(given):
        scored = summarize(score_responses(gold.loc[given["id"]].reset_index(), spec, given["label"].tolist()))
        quality.update(
            label_accuracy=scored["accuracy"],
            label_accuracy_stderr=scored["accuracy_stderr"],
            unparsed_rate=scored["unparsed_rate"],
        )
    return quality
