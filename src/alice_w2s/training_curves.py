"""Training curves of the fine-tuned models behind a table, for the report: every
SFT job writes its loss, learning rate and grad norm per optimizer step into its
model folder (``backends/sft.py``, ``CURVE_FILE``); this module reads them back
and draws one panel per dataset, so a flat or diverged run is seen at a glance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# Written by every SFT job into its model folder (backends/sft.py): one row per optimizer step.
CURVE_FILE = "training_curve.csv"
CURVE_COLUMNS = ("step", "epoch", "loss", "learning_rate", "grad_norm")


def read_curves(model_dirs: list[str | Path]) -> tuple[dict[tuple[str, str], pd.DataFrame], list[str]]:
    """({(dataset, model key): curve} for the folders ``models/<dataset>/<key>``
    that hold a curve, [the folders without one]): a model trained on no example
    is the base model passed through, with no curve."""
    curves: dict[tuple[str, str], pd.DataFrame] = {}
    untrained: list[str] = []
    for folder in map(Path, sorted(map(str, model_dirs))):
        path = folder / CURVE_FILE
        if path.exists():
            curves[(folder.parent.name, folder.name)] = pd.read_csv(path)
        else:
            untrained.append(f"{folder.parent.name}/{folder.name}")
    return curves, untrained


def plot_curves(curves: dict[tuple[str, str], pd.DataFrame], untrained: list[str], path: str | Path, title: str) -> None:
    """Loss (log scale) and grad norm per optimizer step, one column per dataset,
    one line per model; models trained on nothing are named under the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(d for d, _ in curves)) or ["(no trained model)"]
    fig, axes = plt.subplots(2, len(datasets), figsize=(6.5 * len(datasets), 7), squeeze=False)
    for column, dataset in enumerate(datasets):
        loss_ax, norm_ax = axes[0, column], axes[1, column]
        for (d, key), curve in curves.items():
            if d != dataset:
                continue
            loss_ax.plot(curve["step"], curve["loss"], marker=".", label=key)
            if curve["grad_norm"].notna().any():
                norm_ax.plot(curve["step"], curve["grad_norm"], marker=".", label=key)
        loss_ax.set_title(dataset, fontsize=10)
        loss_ax.set_ylabel("training loss (response tokens)")
        loss_ax.set_yscale("log")
        norm_ax.set_ylabel("grad norm (before clipping)")
        norm_ax.set_xlabel("optimizer step")
        loss_ax.legend(fontsize=7)
    note = f"\nno training (0 examples, base model passed through): {', '.join(untrained)}" if untrained else ""
    fig.suptitle(title + note, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
