"""Class predictions of every model of a run on the same windows."""

from __future__ import annotations

import numpy as np
from torch import nn

from collar_kd.training.loop import predict_logits


def predict_classes(models: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """name -> predicted class per window; the networks by argmax, the others (the forest, a
    combined teacher) predict classes themselves."""
    return {name: predict_logits(model, x).argmax(axis=1) if isinstance(model, nn.Module) else model.predict(x)
            for name, model in models.items()}
