"""Teacher outputs computed once per fold and cached on disk (logits, so any temperature applies)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from collar_kd.training.loop import predict_logits


class SoftLabelCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.computed = 0  # how many times a teacher actually ran (tests check the cache works)

    def teacher_logits(self, key: str, teacher: nn.Module, x: np.ndarray) -> np.ndarray:
        path = self.directory / f"teacher-logits-{key}.npy"
        if path.exists():
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] == len(x):
                return cached
        logits = predict_logits(teacher, x).astype(np.float32)
        np.save(path, logits, allow_pickle=False)
        self.computed += 1
        return logits
