"""What the student's soft term is compared with, batch by batch.

`cached`: the teachers' logits on the training windows, computed once (fast; right when the
student sees the windows as they are). `crossfit`: cached, but every training animal's windows
are labelled by inner teachers that never saw that animal (TeacherPool.crossfit_logits). `consistent`: the teachers label the very batch the
student sees, after augmentation (function matching): with random rotations the cached labels
belong to a different input. `auto` picks consistent when training augments, cached otherwise.
Several teachers are combined by averaging their softened probabilities.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from collar_kd.config import teaching_mode
from collar_kd.errors import ConfigError
from collar_kd.training.device import to_compute
from collar_kd.training.loop import LABELS_ITS_INPUT, Targets


def ensemble_logits(logits: list[np.ndarray], temperature: float) -> np.ndarray:
    """T * log(mean_i softmax(z_i / T)): logits whose softmax at T is exactly the teachers'
    mean probability at T, so the ordinary KD loss distils the averaged soft labels."""
    if len(logits) == 1:
        return np.asarray(logits[0], dtype=np.float32)
    z = np.stack([np.asarray(v, dtype=np.float64) / temperature for v in logits])
    z -= z.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    return (temperature * np.log(np.maximum(p.mean(axis=0), 1e-30))).astype(np.float32)


def cached_targets(logits: np.ndarray | torch.Tensor) -> Targets:
    """A tensor already on the compute device is looked up as it is, so its owner can rewrite it
    in place (the data-free student's fresh windows)."""
    table = logits if isinstance(logits, torch.Tensor) else to_compute(
        torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32)))
    return lambda xb, idx: table[idx]


def consistent_targets(teachers: list[nn.Module], temperature: float, cached: tuple[torch.Tensor, ...] = ()) -> Targets:
    """`cached`: tables of logits per training window (teachers that cannot label a batch on the
    fly cheaply, such as a forest), looked up by index and averaged with the networks' answers on
    the batch, each table counting as one teacher."""
    for t in teachers:
        t.eval()

    @torch.no_grad()
    def targets(xb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        for t in teachers:  # onto the batch's device (a no-op after the first batch); fit moves them back
            t.to(xb.device)
        if len(teachers) == 1 and not cached:
            return teachers[0](xb)
        logits = [t(xb) for t in teachers] + [table[idx].to(xb.device) for table in cached]
        p = torch.stack([torch.softmax(z / temperature, dim=1) for z in logits]).mean(dim=0)
        return temperature * torch.log(p.clamp_min(1e-30))

    targets.modules = teachers  # type: ignore[attr-defined]
    setattr(targets, LABELS_ITS_INPUT, True)
    return targets


def with_student_labels(teacher_logits: np.ndarray, student_logits: np.ndarray | None, student_labels: str,
                        temperature: float) -> np.ndarray:
    """Soft labels of windows without labels (a new animal's): the teachers' logits, joined by a
    student's ("with_student": each half the probability at T), replaced by them ("student"), or
    as they are ("teachers", or no student). The transductive row and `collar-kd adapt` share it."""
    if student_logits is None or student_labels == "teachers":
        return teacher_logits
    z = np.asarray(student_logits, dtype=np.float32)
    return z if student_labels == "student" else ensemble_logits([teacher_logits, z], temperature)


def soft_targets(pool, specs: list, teaching: str, temperature: float, augmenting: bool,
                 extra_x: np.ndarray | None = None, crossfit_groups: int = 3,
                 student_logits: np.ndarray | None = None, student_labels: str = "teachers",
                 unlabelled_count: int = 0, unlabelled_specs: list | None = None,
                 transfer_specs: list | None = None) -> tuple[Targets, str]:
    """Targets from the teachers `specs` of a TeacherPool, by kd.teaching; returns the mode used.
    `extra_x`: windows appended after the pool's own, labelled by the teachers too (by the full
    teachers: no teacher saw them, crossfit or not); its first `unlabelled_count` are unlabelled
    windows (the transductive student's), which `unlabelled_specs`, other teachers of the pool,
    label instead when given; `transfer_specs` likewise label the rest, the transfer set.
    `student_logits`: another student's logits on those (the transductive student's strict twin),
    which join the teachers' mean ("with_student": half the probability at T) or replace it
    ("student"). All three for cached soft labels only."""
    mode = teaching_mode(teaching, augmenting)
    if mode in ("cached", "crossfit"):
        logits = [pool.logits(s) if mode == "cached" else pool.crossfit_logits(s, crossfit_groups) for s in specs]
        if extra_x is not None:
            logits = [np.concatenate([z, pool.labels_unseen(s, extra_x)]) for z, s in zip(logits, specs)]
        table = np.array(ensemble_logits(logits, temperature), dtype=np.float32)
        count = unlabelled_count or (0 if student_logits is None else len(student_logits))
        start = len(table) - (0 if extra_x is None else len(extra_x))
        rows = slice(start, start + count)
        if unlabelled_specs:
            unlabelled = extra_x[:count]
            table[rows] = ensemble_logits([pool.labels_unseen(s, unlabelled) for s in unlabelled_specs], temperature)
        table[rows] = with_student_labels(table[rows], student_logits, student_labels, temperature)
        if transfer_specs and extra_x is not None and len(extra_x) > count:
            transfer = extra_x[count:]
            table[start + count:] = ensemble_logits([pool.labels_unseen(s, transfer) for s in transfer_specs], temperature)
        return cached_targets(table), mode
    if student_logits is not None and student_labels != "teachers":
        raise ConfigError(f"transductive_labels: '{student_labels}' needs cached soft labels, not kd.teaching '{mode}'")
    if unlabelled_specs:
        raise ConfigError(f"transductive_teachers: they need cached soft labels, not kd.teaching '{mode}'")
    if transfer_specs:
        raise ConfigError(f"kd.transfer_teachers: they need cached soft labels, not kd.teaching '{mode}'")
    return consistent_targets([pool.get(s) for s in specs], temperature), mode
