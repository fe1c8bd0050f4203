"""The baseline today's users reach for: window statistics + a scikit-learn random forest.

The fitted forest is saved as plain arrays (npz, no pickle) and predicted from them, so a run
directory never needs unpickling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from collar_kd.errors import reading


def window_features(x: np.ndarray) -> np.ndarray:
    """Per axis and for the magnitude: mean, std, min, max, 10/50/90th percentile, mean |diff|,
    dominant frequency bin and spectral energy; plus the three axis correlations."""
    mag = np.linalg.norm(x, axis=2, keepdims=True)
    sig = np.concatenate([x, mag], axis=2)  # (n, T, 4)
    pct = np.percentile(sig, [10, 50, 90], axis=1)  # (3, n, 4)
    centred = sig - sig.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(centred, axis=1))[:, 1:]  # drop DC
    feats = [
        sig.mean(axis=1),
        sig.std(axis=1),
        sig.min(axis=1),
        sig.max(axis=1),
        *pct,
        np.abs(np.diff(sig, axis=1)).mean(axis=1),
        spec.argmax(axis=1).astype(np.float64),
        (spec**2).mean(axis=1),
    ]
    std = centred[:, :, :3].std(axis=1) + 1e-9
    for i, j in ((0, 1), (0, 2), (1, 2)):
        cov = (centred[:, :, i] * centred[:, :, j]).mean(axis=1)
        feats.append((cov / (std[:, i] * std[:, j]))[:, None])
    return np.concatenate(feats, axis=1).astype(np.float32)


class ForestBaseline:
    """A random forest kept as arrays: feature, threshold, children and leaf class probabilities."""

    def __init__(self, trees: list[dict[str, np.ndarray]], n_classes: int):
        self.trees, self.n_classes = trees, n_classes

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, n_classes: int, trees: int, seed: int, weighting: str, threads: int,
            max_depth: int | None = None):
        """weighting: 'balanced', 'sqrt' (square root of the balanced weights) or 'none'.
        max_depth: None grows every tree fully (the run's baseline); the device benchmark also
        measures smaller forests."""
        weight = None
        if weighting != "none":
            counts = np.bincount(y, minlength=n_classes)
            w = len(y) / (n_classes * np.maximum(counts, 1))
            weight = {int(c): float(np.sqrt(w[c]) if weighting == "sqrt" else w[c]) for c in np.unique(y)}
        rf = RandomForestClassifier(
            n_estimators=trees,
            min_samples_leaf=2,
            max_depth=max_depth,
            class_weight=weight,
            random_state=seed,
            n_jobs=threads,
        )
        rf.fit(window_features(x), y)
        out = []
        for est in rf.estimators_:
            t = est.tree_
            value = t.value[:, 0, :]
            proba = np.zeros((t.node_count, n_classes))
            proba[:, rf.classes_] = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-12)
            out.append(
                {
                    "feature": t.feature.astype(np.int32),
                    "threshold": t.threshold.astype(np.float64),
                    "left": t.children_left.astype(np.int32),
                    "right": t.children_right.astype(np.int32),
                    "proba": proba,
                }
            )
        model = cls(out, n_classes)
        model.sklearn = rf  # kept in memory only, for tests
        return model

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        f = window_features(x).astype(np.float32).astype(np.float64)  # sklearn compares in float32
        rows = np.arange(len(f))
        total = np.zeros((len(f), self.n_classes))
        for t in self.trees:
            node = np.zeros(len(f), dtype=np.int64)
            while True:
                inner = t["left"][node] >= 0
                if not inner.any():
                    break
                go_left = f[rows, np.maximum(t["feature"][node], 0)] <= t["threshold"][node]
                node = np.where(inner, np.where(go_left, t["left"][node], t["right"][node]), node)
            total += t["proba"][node]
        return total / len(self.trees)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def save(self, path: Path) -> None:
        arrays = {"n_classes": np.array(self.n_classes), "n_trees": np.array(len(self.trees))}
        for i, t in enumerate(self.trees):
            arrays.update({f"t{i}_{k}": v for k, v in t.items()})
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> "ForestBaseline":
        with reading(path, "forest (.npz)"), np.load(path, allow_pickle=False) as z:
            n = int(z["n_trees"])
            trees = [{k: z[f"t{i}_{k}"] for k in ("feature", "threshold", "left", "right", "proba")} for i in range(n)]
            return cls(trees, int(z["n_classes"]))
