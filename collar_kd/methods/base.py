"""The method registry and what a method is given and gives back.

A method is one module in this folder (or any module imported before training) that registers
itself with `@register(name, description, Settings)`: its train function, a one-line
description, and a dataclass of its own settings with their defaults. The settings are given as
further keys of a config's [method] section and resolved here, each checked against its
annotation and by the dataclass's own `check()`; an unknown key names the method's settings.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from collar_kd.config import TrainConfig, merge_settings
from collar_kd.errors import ConfigError
from collar_kd.models import GRUStudent


@dataclass
class NoSettings:
    """A method without settings of its own."""

    def check(self) -> None:
        pass


@dataclass
class StudentJob:
    """One fold's student training. `x`/`y` are the real training windows: a data-free method
    must not read them (tests hand it windows that raise on access)."""

    cfg: TrainConfig
    settings: Any  # the method's own settings (its registered dataclass), resolved
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
    # Windows without labels the student may also learn from, through the teacher's soft labels
    # only (kd and ensemble use them): extra recordings, or the held-out animal (transductive).
    unlabelled_x: np.ndarray | None = None
    # A student to fine-tune instead of a fresh one, for `epochs` epochs at learning rate `lr`
    # (None: the [student] schedule). The transductive student starts from the strict one this way.
    start_from: GRUStudent | None = None
    epochs: int | None = None
    lr: float | None = None
    # The strict student whose soft labels join or replace the teachers' on unlabelled_x, by
    # cfg.transductive_labels (the transductive student only; None: the teachers' alone).
    unlabelled_labeller: GRUStudent | None = None
    # Teachers (TeacherSpecs of the pool) that label unlabelled_x in place of the method's own
    # (cfg.transductive_teachers; the transductive student only; None: the method's).
    unlabelled_teachers: list | None = None
    # Train on unlabelled_x alone, through the soft term only (cfg.transductive_windows
    # "unlabelled"; the transductive student only): no training windows, no transfer set.
    unlabelled_only: bool = False
    # Set by a method that distils several teachers: them combined, evaluated as the row kd_teacher.
    combined_teacher: object | None = None

    def new_student(self) -> GRUStudent:
        """A fresh student, same initial weights for every method (seeded by the run's seed)."""
        torch.manual_seed(self.cfg.seed)
        return GRUStudent(self.n_classes, self.cfg.student.hidden, self.cfg.student.head)

    def initial_student(self) -> GRUStudent:
        """What a distilling method trains: a copy of start_from, or a fresh student."""
        return self.new_student() if self.start_from is None else copy_student(self.start_from)

    def schedule(self) -> tuple[int, float]:
        """(epochs, learning rate): the job's own, or the [student] section's."""
        s = self.cfg.student
        return (s.epochs if self.epochs is None else self.epochs), (s.lr if self.lr is None else self.lr)

    def task(self, label: str, total: int):
        return self.progress.task(f"{self.key}: {label}", total)


@dataclass
class MethodResult:
    student: GRUStudent
    report: dict = field(default_factory=dict)  # settings actually used, losses, timings


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    settings: type
    train: Callable[[StudentJob], MethodResult]
    learns_from_unlabelled: bool = False  # uses StudentJob.unlabelled_x
    combines_teachers: bool = False  # sets StudentJob.combined_teacher (the row kd_teacher)
    soft_labels: bool = False  # distils the teacher pool's soft labels (distill.targets.soft_targets)


METHODS: dict[str, Method] = {}


def register(name: str, description: str, settings: type = NoSettings, learns_from_unlabelled: bool = False,
             combines_teachers: bool = False, soft_labels: bool = False):
    def wrap(fn: Callable[[StudentJob], MethodResult]):
        METHODS[name] = Method(name, description, settings, fn, learns_from_unlabelled, combines_teachers, soft_labels)
        return fn

    return wrap


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"method.name: unknown method '{name}' (known: {', '.join(METHODS)})")
    return METHODS[name]


def resolve_settings(cfg: TrainConfig) -> Any:
    """The method's settings from cfg.method.options over its defaults, checked."""
    method = get_method(cfg.method.name)
    settings = method.settings()
    try:
        merge_settings(settings, cfg.method.options, "method.")
    except ConfigError as e:
        known = ", ".join(f.name for f in dataclasses.fields(settings)) or "none"
        raise ConfigError(f"{e} [settings of method '{method.name}': {known}]") from None
    settings.check()
    return settings


def train_student(job: StudentJob) -> MethodResult:
    method = get_method(job.cfg.method.name)
    started = time.time()
    result = method.train(job)
    result.student.eval()
    result.report = {"method": method.name, **result.report, "seconds": round(time.time() - started, 2)}
    return result


def copy_student(student: GRUStudent) -> GRUStudent:
    twin = GRUStudent(student.n_classes, student.hidden, student.head, student.channels)
    twin.load_state_dict(student.state_dict())
    return twin


def check_positive(settings: Any, *names: str, minimum: float = 0, strict: bool = True) -> None:
    """Each named setting above (or, strict=False, at least) `minimum`, else an error naming it."""
    for name in names:
        v = getattr(settings, name)
        if not (v > minimum if strict else v >= minimum):
            word = "above" if strict else "at least"
            raise ConfigError(f"method.{name}: must be {word} {minimum:g}, not {v}")


def check_at_most(settings: Any, maximum: float, *names: str) -> None:
    """Each named setting at most `maximum`: sizes that would exhaust memory or run for weeks are
    refused before any training, not in the middle of a fold."""
    for name in names:
        v = getattr(settings, name)
        if v > maximum:
            raise ConfigError(f"method.{name}: must be at most {maximum:,}, not {v:,}")


def as_dict(settings: Any) -> dict:
    return dataclasses.asdict(settings)
