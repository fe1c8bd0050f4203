"""Class predictions of every model of a run on the same windows."""

from __future__ import annotations

import numpy as np

from collar_kd.training.loop import predict_logits


def predict_classes(models: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """name -> predicted class per window; the forest predicts classes itself, the networks by argmax."""
    return {name: model.predict(x) if name == "baseline_rf" else predict_logits(model, x).argmax(axis=1)
            for name, model in models.items()}
