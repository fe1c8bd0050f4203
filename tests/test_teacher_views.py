"""kd.teacher_views: the teachers label each window as it is and as copies turned by the run's own
random rotations, their class probabilities averaged (test-time augmentation for the teacher)."""

from __future__ import annotations

import json
import numpy as np
import torch
from scipy.special import softmax

from collar_kd.config import load_config
from collar_kd.distill.teachers import FOREST_PROBABILITY_FLOOR, CombinedTeacher, TeacherPool, TeacherSpec, TeacherViews
from collar_kd.training.augment import random_rotations
from collar_kd.training.loop import predict_logits
from test_teaching import Recorder, windows


def config(views: int):
    return load_config(None, {"seed": 7, "augment_rotation_axes_deg": [15.0, 15.0, 45.0], "kd.teacher_views": views,
                              "threads": 1})


def by_hand(x: np.ndarray, teacher, count: int, seed: int) -> np.ndarray:
    """The averaged probabilities worked out directly: x, then `count` draws of the rotations."""
    gen = torch.Generator().manual_seed(seed)
    copies = [x] + [(torch.from_numpy(x) @ random_rotations(len(x), (15.0, 15.0, 45.0), gen).transpose(1, 2)).numpy()
                    for _ in range(count)]
    return np.mean([softmax(predict_logits(teacher, c).astype(np.float64), axis=1) for c in copies], axis=0)


def test_a_teacher_labels_each_window_and_its_turned_copies():
    x, y = windows()
    teacher = Recorder(False)
    pool = TeacherPool(config(3), x, y, 3, None, "t")
    pool.put(TeacherSpec("resnet", 7), teacher)
    got = pool.logits("resnet:7")
    seen = [b.numpy() for b in teacher.seen]
    assert len(seen) == 4 and np.array_equal(seen[0], x)  # the windows as they are, then three turned copies
    for copy in seen[1:]:
        assert not np.allclose(copy, x)
        np.testing.assert_allclose(np.linalg.norm(copy, axis=2), np.linalg.norm(x, axis=2), rtol=1e-5)  # turned, not scaled
    teacher.seen.clear()
    expected = by_hand(x, teacher, 3, seed=7)
    np.testing.assert_allclose(softmax(got.astype(np.float64), axis=1), expected, rtol=1e-5, atol=1e-6)
    # The rotation-sensitive teacher answers differently once its views are averaged.
    assert not np.allclose(softmax(got, axis=1), softmax(predict_logits(teacher, x), axis=1), atol=1e-3)


def test_without_views_the_soft_labels_are_the_teachers_own_logits():
    x, y = windows()
    teacher = Recorder(False)
    pool = TeacherPool(config(0), x, y, 3, None, "t")
    pool.put(TeacherSpec("resnet", 7), teacher)
    assert np.array_equal(pool.logits("resnet:7"), predict_logits(teacher, x)) and len(teacher.seen) == 2


class FixedForest:
    """A forest stand-in whose vote follows the window's mean x acceleration."""

    def predict_proba(self, x):
        p = np.clip(x.mean(axis=1)[:, :1] + 0.5, 0.0, 1.0)
        return np.hstack([p, 1 - p, np.zeros_like(p)])


def test_forests_and_the_combined_teacher_average_the_same_views():
    x, y = windows()
    views = TeacherViews.of(config(2))
    forest, net = FixedForest(), Recorder(False)
    from collar_kd.distill.teachers import forest_logits

    gen = torch.Generator().manual_seed(7)
    copies = [x] + [(torch.from_numpy(x) @ random_rotations(len(x), (15.0, 15.0, 45.0), gen).transpose(1, 2)).numpy()
                    for _ in range(2)]
    p_forest = np.mean([forest.predict_proba(c) for c in copies], axis=0)
    expected = np.log(np.maximum(p_forest, FOREST_PROBABILITY_FLOOR)).astype(np.float32)
    np.testing.assert_allclose(forest_logits(forest, x, views), expected, rtol=1e-6)
    combined = CombinedTeacher([net], views)
    np.testing.assert_allclose(combined.predict_proba(x), by_hand(x, net, 2, seed=7), rtol=1e-5, atol=1e-6)


def test_a_run_with_teacher_views_reports_its_combined_teacher(tiny_synthetic, tmp_path):
    from collar_kd.pipeline.train_run import run_training
    from conftest import tiny_config_overrides

    settings = {**tiny_config_overrides(tiny_synthetic), "augment_rotation_axes_deg": [15.0, 15.0, 45.0],
                "kd.teacher_views": 2, "kd.transfer": "mixup", "method.name": "ensemble",
                "method.teachers": ["resnet", "forest"], "final_models": False,
                "save_fold_models": True}
    with_views = run_training(load_config(None, settings), tmp_path / "views")
    without = run_training(load_config(None, {**settings, "kd.teacher_views": 0}), tmp_path / "plain")
    assert with_views["teacher"] == without["teacher"]  # the ResNet itself is the same model ...
    assert with_views["student"] == without["student"]
    # ... but its soft labels, and so the distilled student, are not
    from safetensors.numpy import load_file

    fold = sorted((tmp_path / "views" / "folds").iterdir())[0].name
    a = load_file(str(tmp_path / "views" / "folds" / fold / "student_kd.safetensors"))
    b = load_file(str(tmp_path / "plain" / "folds" / fold / "student_kd.safetensors"))
    assert a.keys() == b.keys() and any(not np.array_equal(a[k], b[k]) for k in a)
    assert "kd_teacher" in with_views


def test_the_forest_learns_from_turned_copies_of_its_windows(monkeypatch):
    from collar_kd.evaluation.baseline import ForestBaseline

    x, y = windows(n=30)
    seen = {}
    real = ForestBaseline.fit.__func__

    def fit(cls, xs, ys, *args, **kwargs):
        seen["x"], seen["y"] = xs, ys
        return real(cls, xs, ys, *args, **kwargs)

    monkeypatch.setattr(ForestBaseline, "fit", classmethod(fit))
    cfg = load_config(None, {"seed": 3, "augment_rotation_axes_deg": [15.0, 15.0, 45.0], "rf_turned_copies": 2,
                             "rf_trees": 5, "threads": 1})
    TeacherPool(cfg, x, y, 3, None, "t").forest(TeacherSpec("forest", 5))
    xs, ys = seen["x"], seen["y"]
    assert xs.shape == (90, *x.shape[1:]) and np.array_equal(ys, np.tile(y, 3))
    assert np.array_equal(xs[:30], x)  # the windows as they are, then two turned copies drawn with the forest's seed
    gen = torch.Generator().manual_seed(5)
    for k in (1, 2):
        turned = (torch.from_numpy(x) @ random_rotations(30, (15.0, 15.0, 45.0), gen).transpose(1, 2)).numpy()
        np.testing.assert_array_equal(xs[30 * k: 30 * (k + 1)], turned)
    cfg0 = load_config(None, {"seed": 3, "rf_trees": 5, "threads": 1})
    TeacherPool(cfg0, x, y, 3, None, "t").forest(TeacherSpec("forest", 5))
    assert seen["x"] is x  # off by default: the windows alone
    # The teacher "turned_forest" learns from turned_forest_copies copies whatever rf_turned_copies says,
    # drawn as the forest's (same seed, same turns); the plain forest of the same pool stays plain.
    cfg3 = load_config(None, {"seed": 3, "augment_rotation_axes_deg": [15.0, 15.0, 45.0], "turned_forest_copies": 3,
                              "rf_trees": 5, "threads": 1})
    pool = TeacherPool(cfg3, x, y, 3, None, "t")
    pool.forest(TeacherSpec("turned_forest", 5))
    assert seen["x"].shape == (120, *x.shape[1:]) and np.array_equal(seen["x"][:90], xs)
    pool.forest(TeacherSpec("forest", 5))
    assert seen["x"] is x


def test_the_baseline_row_can_be_the_turned_forest_and_the_student_and_forest_row_averages(tiny_synthetic, tmp_path,
                                                                                           monkeypatch):
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.evaluation.baseline import ForestBaseline
    from collar_kd.evaluation.predict import STUDENT_AND_FOREST
    from tests.conftest import tiny_config_overrides

    fitted, judged = [], []
    real_fit, real_predict = ForestBaseline.fit.__func__, run_mod.predict_classes

    def fit(cls, xs, ys, *args, **kwargs):
        fitted.append(len(xs))
        return real_fit(cls, xs, ys, *args, **kwargs)

    def predict(models, x):
        judged.append((models, x))
        return real_predict(models, x)

    monkeypatch.setattr(ForestBaseline, "fit", classmethod(fit))
    monkeypatch.setattr(run_mod, "predict_classes", predict)
    over = {**tiny_config_overrides(tiny_synthetic), "final_models": False, "augment_rotation_deg": 20.0,
            "baseline_forest": "turned_forest", "turned_forest_copies": 2}
    metrics = run_mod.run_training(load_config(None, over), tmp_path / "run")
    assert len(judged) == len(metrics["folds"]) == len(fitted)
    for (models, x), f, rows in zip(judged, metrics["folds"], fitted):
        assert rows == 3 * f["train_windows"]  # the baseline learnt from the windows and two turned copies
        student = softmax(predict_logits(models["student_kd"], x).astype(np.float64), axis=1)
        by_hand = (student + models["baseline_rf"].predict_proba(x)).argmax(axis=1)
        assert np.array_equal(models[STUDENT_AND_FOREST].predict(x), by_hand)
        # The row's confusion holds exactly these predictions (its column sums count them per class).
        assert np.array_equal(np.bincount(by_hand, minlength=len(metrics["classes"])),
                              np.sum(f[STUDENT_AND_FOREST]["confusion"], axis=0))
    assert metrics[STUDENT_AND_FOREST]["mcc"] is not None
    timings = json.loads((tmp_path / "run" / "manifest.json").read_text())["method_timings_s"]["folds"]
    assert all("turned_forest:0" in f["teacher_seconds"] for f in timings.values())  # its training time is said too
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Distilled student and forest together" in report
