"""Confusion-matrix plots and the short report.md of a run or an evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = {
    "teacher": "ResNet teacher",
    "student": "GRU student (no KD)",
    "student_kd": "GRU student (distilled)",
    "baseline_rf": "Random forest (window statistics)",
    "kd_teacher": "Combined teachers of the distilled student",
    "student_kd_transductive": "GRU student (distilled, also on the held-out animal's unlabelled windows)",
    "student_kd+baseline_rf": "Distilled student and forest together (a computer's labeller, not the collar's model)",
}


def plot_confusion(confusion: list[list[int]], classes: tuple[str, ...], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 1.1 * len(classes) + 2))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(cm[i, j])}\n{norm[i, j]:.0%}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def metrics_table(metrics: dict, names) -> list[str]:
    lines = ["| model | MCC | accuracy | macro-F1 |", "|---|---|---|---|"]
    for name in names:
        m = metrics[name]
        lines.append(f"| {LABELS.get(name, name)} | {_fmt(m['mcc'])} | {_fmt(m['accuracy'])} | {_fmt(m['macro_f1'])} |")
    return lines


def write_report(path: Path, title: str, metrics: dict, names, extra: list[str]) -> None:
    lines = [f"# {title}", "", *metrics_table(metrics, names), "", *extra, ""]
    Path(path).write_text("\n".join(lines))
