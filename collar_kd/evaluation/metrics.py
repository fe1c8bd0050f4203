"""Classification metrics on pooled predictions: MCC (the method authors' metric), accuracy, macro-F1."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict:
    """MCC is undefined when the labels hold a single class (a new farm's data often does):
    it is then reported as null with a note, and accuracy still stands."""
    labels = list(range(len(classes)))
    present = sorted(set(np.unique(y_true).tolist()))
    out = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else None,
        "mcc": None,
        "macro_f1": None,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "support": {classes[i]: int((y_true == i).sum()) for i in labels},
    }
    if len(present) >= 2:
        out["mcc"] = float(matthews_corrcoef(y_true, y_pred))
        # Macro-F1 over the classes that occur in the labels (absent classes would score 0 by fiat).
        out["macro_f1"] = float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
    else:
        out["note"] = "only one class in the labels: MCC and macro-F1 are undefined, accuracy is reported"
    return out
