"""The method registry and what a method is given and gives back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from collar_kd.errors import ConfigError
from collar_kd.models import GRUStudent


@dataclass
class StudentJob:
    """One fold's student training. `x`/`y` are the real training windows: a data-free method
    must not read them (tests hand it windows that raise on access)."""

    cfg: object  # TrainConfig
    x: np.ndarray
    y: np.ndarray
    n_classes: int
    window_length: int
    arch: dict  # classes, sample_rate_hz, window_length: what the quantizer needs
    teachers: object  # distill.teachers.TeacherPool
    weights: torch.Tensor | None
    key: str
    progress: object
    no_kd_student: GRUStudent | None = None

    def new_student(self) -> GRUStudent:
        """A fresh student, same initial weights for every method (seeded by the run's seed)."""
        torch.manual_seed(self.cfg.seed)
        return GRUStudent(self.n_classes, self.cfg.student.hidden, self.cfg.student.head)

    def task(self, label: str, total: int):
        return self.progress.task(f"{self.key}: {label}", total)


@dataclass
class MethodResult:
    student: GRUStudent
    report: dict = field(default_factory=dict)  # settings actually used, losses, timings
    # Windows to calibrate fixed-point formats on, when the training windows are not the
    # right ones (the data-free student has only ever seen generated windows).
    calibration_x: np.ndarray | None = None


METHODS: dict[str, Callable[[StudentJob], MethodResult]] = {}


def register(name: str):
    def wrap(fn):
        METHODS[name] = fn
        return fn

    return wrap


def train_student(job: StudentJob) -> MethodResult:
    name = job.cfg.method.name
    if name not in METHODS:
        raise ConfigError(f"method.name: unknown method '{name}' (known: {', '.join(METHODS)})")
    started = time.time()
    result = METHODS[name](job)
    result.student.eval()
    result.report = {"method": name, **result.report, "seconds": round(time.time() - started, 2)}
    return result


def copy_student(student: GRUStudent) -> GRUStudent:
    twin = GRUStudent(student.n_classes, student.hidden, student.head_size, student.channels)
    twin.load_state_dict(student.state_dict())
    return twin
