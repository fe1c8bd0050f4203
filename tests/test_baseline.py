"""The random-forest baseline: saved as arrays, predicted from them exactly as scikit-learn does."""

from __future__ import annotations

import numpy as np

from collar_kd.evaluation.baseline import ForestBaseline, window_features
from collar_kd.evaluation.metrics import classification_metrics


def test_array_forest_matches_sklearn_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 20, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1) > 0).astype(np.int64) + 2 * (x[:, :, 2].std(axis=1) > 1)
    forest = ForestBaseline.fit(x, y, n_classes=4, trees=15, seed=0, weighting="balanced", threads=1)
    xt = rng.normal(size=(60, 20, 3)).astype(np.float32)
    np.testing.assert_allclose(forest.predict_proba(xt), forest.sklearn.predict_proba(window_features(xt))[:, :], atol=1e-12)
    path = tmp_path / "rf.npz"
    forest.save(path)
    again = ForestBaseline.load(path)
    assert np.array_equal(again.predict(xt), forest.predict(xt))


def test_metrics_single_class_reports_accuracy_only():
    m = classification_metrics(np.array([1, 1, 1, 1]), np.array([1, 1, 0, 1]), ("a", "b"))
    assert m["accuracy"] == 0.75 and m["mcc"] is None and "only one class" in m["note"]
    m2 = classification_metrics(np.array([0, 1, 0, 1]), np.array([0, 1, 0, 1]), ("a", "b", "c"))
    assert m2["mcc"] == 1.0 and m2["macro_f1"] == 1.0 and m2["support"] == {"a": 2, "b": 2, "c": 0}
