"""The pictures people would rather look at than read: an ethogram (behaviour over time, one
row per animal) and the daily time budgets as stacked bars."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from collar_kd.field.budgets import ClassifiedSegment  # noqa: E402

UNCLASSIFIED_COLOUR = "#bbbbbb"


def colours(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def plot_ethogram(segments: list[ClassifiedSegment], class_names: list[str], path: Path, title: str) -> None:
    animals = sorted({s.animal for s in segments})
    t0 = min((s.start for s in segments), default=0.0)
    col = colours(len(class_names))
    fig, ax = plt.subplots(figsize=(11, 0.6 * len(animals) + 1.6))
    for row, animal in enumerate(animals):
        for seg in (s for s in segments if s.animal == animal):
            lo, hi = seg.claims()
            spans = {c: [] for c in range(len(class_names))}
            for i in range(len(lo)):
                spans[int(seg.classes[i])].append(((lo[i] - t0) / 3600, (hi[i] - lo[i]) / 3600))
            for c, bars in spans.items():
                if bars:
                    ax.broken_barh(bars, (row - 0.4, 0.8), facecolors=col[c], linewidth=0)
    ax.set_yticks(range(len(animals)), animals)
    ax.set_xlabel("hours since the first sample")
    ax.set_title(title)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=col[i]) for i in range(len(class_names))], labels=class_names,
              loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(len(class_names), 6), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def plot_budgets(budgets: pd.DataFrame, class_names: list[str], path: Path, title: str) -> None:
    labels = [f"{a}\n{d}" for a, d in zip(budgets["animal"], budgets["day"])]
    col = colours(len(class_names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(labels) + 2), 4.5))
    bottom = np.zeros(len(budgets))
    for i, c in enumerate(class_names):
        v = budgets[f"minutes_{c}"].to_numpy(dtype=float)
        ax.bar(range(len(labels)), v, bottom=bottom, color=col[i], label=c)
        bottom += v
    v = budgets["minutes_unclassified"].to_numpy(dtype=float)
    ax.bar(range(len(labels)), v, bottom=bottom, color=UNCLASSIFIED_COLOUR, label="unclassified")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("minutes (recorded time only)")
    ax.set_title(title)
    ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
