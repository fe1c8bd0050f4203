"""Class predictions of every model of a run on the same windows."""

from __future__ import annotations

import numpy as np

from collar_kd.training.loop import predict_logits

NEURAL_MODELS = ("teacher", "student", "student_kd")


def predict_classes(models: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    out = {name: predict_logits(models[name], x).argmax(axis=1) for name in NEURAL_MODELS}
    out["baseline_rf"] = models["baseline_rf"].predict(x)
    return out
