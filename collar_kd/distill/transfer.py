"""A transfer set: windows made from the training windows for the teachers to label and the
distilled student to match through the soft term only.

Why: with a few thousand windows of ten animals the student only ever sees the teacher's answers
on the training windows themselves, and between them it is free to draw its own boundaries. A
new animal's windows fall exactly there (on the WASP collars: a cow whose resting posture lies
between the training cows' resting and standing ones). Model compression (Bucilua, Caruana and
Niculescu-Mizil, "Model compression", KDD 2006) labels synthetic inputs with the teacher so the
student learns the teacher's function between the examples, not only at them.

kd.transfer = "mixup": pairs of training windows of two different animals (any two windows when
there is a single animal), mixed sample by sample as lam * a + (1 - lam) * b with lam uniform in
[0, 1] per pair: postures and motions between the cows'. kd.transfer_size: how many, as a
multiple of the training windows. The windows carry no label; the teachers label them like any
unlabelled window (the full teachers: no teacher trained on them), the method's own or
kd.transfer_teachers.
"""

from __future__ import annotations

import numpy as np

from collar_kd.config import KDConfig
from collar_kd.distill.teachers import TeacherSpec, parse_teacher_spec

SEED_OFFSET = 7919  # the transfer set's draws, apart from every other generator of the run


def transfer_windows(cfg: KDConfig, x: np.ndarray, animals: np.ndarray | None, seed: int) -> np.ndarray | None:
    """The fold's transfer set (None when kd.transfer is "none" or there are fewer than two
    windows). The same windows, animals and seed give the same set."""
    if cfg.transfer == "none" or len(x) < 2:
        return None
    n = max(1, int(round(cfg.transfer_size * len(x))))
    rng = np.random.default_rng(seed + SEED_OFFSET)
    a = rng.integers(0, len(x), size=n)
    b = rng.integers(0, len(x), size=n)
    # Partners must differ in group: the animal, or with a single animal the window itself.
    several = animals is not None and len(np.unique(animals)) > 1
    group = animals if several else np.arange(len(x))
    same = group[a] == group[b]
    while same.any():  # redraw those partners
        b[same] = rng.integers(0, len(x), size=int(same.sum()))
        same = group[a] == group[b]
    lam = rng.uniform(0.0, 1.0, size=(n, 1, 1)).astype(np.float32)
    return (lam * x[a] + (1.0 - lam) * x[b]).astype(np.float32)


def transfer_specs(cfg: KDConfig, seed: int) -> list[TeacherSpec]:
    """The teachers that label the transfer set instead of the method's (kd.transfer_teachers;
    empty: the method's own)."""
    return [parse_teacher_spec(t, seed, "kd.transfer_teachers") for t in cfg.transfer_teachers]
