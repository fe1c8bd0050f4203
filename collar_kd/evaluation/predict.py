"""Class predictions of every model of a run on the same windows, and the distilled student and
the forest as one classifier."""

from __future__ import annotations

import numpy as np
from scipy.special import softmax
from torch import nn

from collar_kd.training.loop import predict_logits

# The distilled student and the run's forest, their class probabilities averaged. Not a model a
# collar runs (it needs both), but on the shared cows the best labeller of a new animal's
# downloaded recordings: they err on different cows (docs/methods.md, "The distilled student and
# the forest as one labeller").
STUDENT_AND_FOREST = "student_kd+baseline_rf"


def class_probabilities(model, x: np.ndarray) -> np.ndarray:
    """A network's softmax, or the class probabilities a forest (or any such classifier) gives."""
    if isinstance(model, nn.Module):
        return softmax(predict_logits(model, x).astype(np.float64), axis=1)
    return np.asarray(model.predict_proba(x), dtype=np.float64)


class MeanOfModels:
    """Several classifiers as one: the mean of their class probabilities, each counted once."""

    def __init__(self, members: list):
        self.members = members

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.mean([class_probabilities(m, x) for m in self.members], axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


def student_and_forest(models: dict) -> MeanOfModels:
    return MeanOfModels([models["student_kd"], models["baseline_rf"]])


def predict_classes(models: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """name -> predicted class per window; the networks by argmax, the others (the forest, a
    combined teacher) predict classes themselves."""
    return {name: predict_logits(model, x).argmax(axis=1) if isinstance(model, nn.Module) else model.predict(x)
            for name, model in models.items()}
