"""Consistent teaching: with augmentation on, the teacher labels the very batch the student sees
(function matching); cached labels belong to the unaugmented windows. `auto` picks the first
when training augments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from collar_kd.config import KDConfig
from collar_kd.distill.losses import make_loss
from collar_kd.distill.targets import cached_targets, consistent_targets, teaching_mode
from collar_kd.errors import ConfigError
from collar_kd.training.augment import Augmentation
from collar_kd.training.loop import fit, predict_logits


class Recorder(nn.Module):
    """A model that remembers every batch it is given; its output depends on orientation
    (the per-axis mean), so a rotated window gets different logits."""

    def __init__(self, trainable: bool):
        super().__init__()
        self.w = nn.Parameter(torch.eye(3), requires_grad=trainable)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x.mean(dim=1) @ self.w


def windows(n=40, t=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, t, 3)).astype(np.float32)
    x[:, :, 2] += 1.0  # gravity on z: rotations move it to other axes
    return x, rng.integers(0, 3, n)


def test_consistent_teacher_labels_the_same_rotated_batch_the_student_sees():
    x, y = windows()
    student, teacher = Recorder(True), Recorder(False)
    fit(student, x, y, make_loss(KDConfig()), 2, 8, 1e-2, 0, targets=consistent_targets([teacher], 4.0), augment=Augmentation(rotation_deg=90.0))
    assert len(teacher.seen) == len(student.seen) > 0
    for s, t in zip(student.seen, teacher.seen):
        assert torch.equal(s, t)
    # The batches really were rotated: they are not the stored windows.
    assert not any(torch.equal(s, torch.from_numpy(x[: len(s)])) for s in student.seen)


def test_cached_targets_belong_to_the_unrotated_windows():
    x, y = windows()
    teacher = Recorder(False)
    logits = predict_logits(teacher, x)
    teacher.seen.clear()
    student = Recorder(True)
    got = []
    cached = cached_targets(logits)

    def spy(xb, idx):
        t = cached(xb, idx)
        got.append((xb.clone(), t))
        return t

    fit(student, x, y, make_loss(KDConfig()), 1, 8, 1e-2, 0, targets=spy, augment=Augmentation(rotation_deg=90.0))
    assert not teacher.seen  # the teacher never ran during training
    # what the student was compared with differs from the teacher's answer on what the student saw
    assert any(not torch.allclose(t, teacher(xb)) for xb, t in got)


def test_ensemble_consistent_targets_average_probabilities():
    a, b = Recorder(False), Recorder(False)
    with torch.no_grad():
        b.w.mul_(-2.0)
    xb = torch.from_numpy(windows(4)[0])
    z = consistent_targets([a, b], 2.0)(xb, torch.arange(4))
    p = (torch.softmax(a(xb) / 2, 1) + torch.softmax(b(xb) / 2, 1)) / 2
    assert torch.allclose(torch.softmax(z / 2, 1), p, atol=1e-6)


def test_teaching_mode():
    assert teaching_mode("auto", True) == "consistent" and teaching_mode("auto", False) == "cached"
    assert teaching_mode("cached", True) == "cached" and teaching_mode("consistent", False) == "consistent"
    with pytest.raises(ConfigError, match="kd.teaching"):
        teaching_mode("psychic", True)
