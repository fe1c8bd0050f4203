"""Adapting a distilled student to a new herd from its unlabelled windows (`collar-kd adapt`).

The same step as the benchmark's "new farm without labels" row (train_run, transductive_windows
= "unlabelled"): the strict student is fine-tuned on the new animals' windows alone, through the
soft term only, towards soft labels from the run's forest and the student itself (half each at
the KD temperature). No label of those windows exists or is read. tests/test_adapt.py checks that
this gives, bit for bit, the transductive student of a cross-validation fold.
"""

from __future__ import annotations

import numpy as np

from collar_kd.config import TrainConfig
from collar_kd.distill.losses import with_unlabelled
from collar_kd.distill.targets import cached_targets, with_student_labels
from collar_kd.distill.teachers import TeacherViews, forest_logits
from collar_kd.errors import ConfigError
from collar_kd.methods.base import copy_student
from collar_kd.training.loop import fit, predict_logits

# Who labels the new windows: the run's forest and its distilled student (what the collar recipe
# measures), the student alone (self-training), or the forest alone.
LABELLERS = {"forest+student": "with_student", "student": "student", "forest": "teachers"}


def check_labeller(name: str) -> str:
    if name not in LABELLERS:
        raise ConfigError(f"--labeller: one of {', '.join(LABELLERS)}, not '{name}'")
    return name


def adaptation_labels(student, forest, x: np.ndarray, labeller: str, cfg: TrainConfig) -> np.ndarray:
    """Soft labels (logits at the KD temperature) of the windows `x` by `labeller`; the forest's
    as the run's teacher pool computes them (kd.teacher_views included)."""
    how = LABELLERS[check_labeller(labeller)]
    own = None if how == "teachers" else predict_logits(student, x)
    if how == "student":
        return with_student_labels(own, own, how, cfg.kd.temperature)
    return with_student_labels(forest_logits(forest, x, TeacherViews.of(cfg)), own, how, cfg.kd.temperature)


def fine_tune_on_unlabelled(student, x: np.ndarray, labels: np.ndarray, cfg: TrainConfig, epochs: int, lr: float,
                            weights=None, on_epoch=None):
    """A copy of `student` trained `epochs` epochs at `lr` on `x` alone, every window without a
    label (-1), towards `labels` through the run's KD loss for unlabelled windows, with the run's
    batch size, augmentation, mixup and seed. Returns it and the loss per epoch."""
    tuned = copy_student(student)
    history = fit(tuned, x, np.full(len(x), -1, dtype=np.int64), with_unlabelled(cfg.kd), epochs,
                  cfg.student.batch_size, lr, cfg.seed, targets=cached_targets(labels), weights=weights,
                  on_epoch=on_epoch, augment=cfg.augmentation(), mixup=cfg.kd.mixup, temperature=cfg.kd.temperature)
    return tuned, history
