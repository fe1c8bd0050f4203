"""Stochastic-precision self-distillation (SPEQ): no separate teacher. The student's own
parameters, run with each layer's activation word length drawn at random on every forward
pass (from method.speq_bits; 0 = unrounded), give the soft labels; the fixed-point student
(method.weight_bits weights, int16 activations) learns towards them with a cosine-similarity
term instead of KL divergence, plus cross-entropy on the labels.

It fine-tunes the student without KD (a trained float model, as SPEQ starts from one)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch

from collar_kd.config import MAX_EPOCHS
from collar_kd.distill.losses import ScheduledLoss, cosine_term
from collar_kd.errors import ConfigError
from collar_kd.methods.base import MethodResult, StudentJob, check_at_most, check_positive, copy_student, register
from collar_kd.quant.qat import ACT_GROUPS, FakeQuantStudent
from collar_kd.quant.quantizer import quantize_student
from collar_kd.training.device import to_compute
from collar_kd.training.loop import optimize


def draw_precisions(choices: list[int], gen: torch.Generator) -> dict[str, int]:
    """One activation word length per layer group, uniformly from `choices`."""
    idx = torch.randint(len(choices), (len(ACT_GROUPS),), generator=gen).tolist()
    return {group: int(choices[i]) for group, i in zip(ACT_GROUPS, idx)}


class SelfTeacher:
    """The stochastic-precision teacher: the student's graph under freshly drawn precisions,
    without gradient. Keeps every draw so tests and reports can see the precision change."""

    def __init__(self, fq: FakeQuantStudent, choices: list[int], seed: int):
        self.fq, self.choices = fq, list(choices)
        self.gen = torch.Generator().manual_seed(seed)
        self.draws: list[dict[str, int]] = []

    @torch.no_grad()
    def __call__(self, xb: torch.Tensor) -> torch.Tensor:
        bits = draw_precisions(self.choices, self.gen)
        self.draws.append(bits)
        return self.fq(xb, act_bits=bits)


@dataclass
class SPEQSettings:
    epochs: int = 5  # fake-quantized fine-tuning epochs, starting from the no-KD student
    lr: float = 5e-4
    # Activation word lengths the self-teacher draws from per layer group (0 = unrounded float).
    bits: list[int] = field(default_factory=lambda: [6, 8, 12, 16, 0])

    def check(self) -> None:
        check_positive(self, "epochs", strict=False)
        check_at_most(self, MAX_EPOCHS, "epochs")
        check_positive(self, "lr")
        if not self.bits or any(not isinstance(b, int) or (b != 0 and not 2 <= b <= 16) for b in self.bits):
            raise ConfigError(f"method.bits: word lengths between 2 and 16, or 0 for float; got {self.bits}")


@register("speq", "stochastic-precision self-distillation, cosine-similarity loss", SPEQSettings)
def train_speq(job: StudentJob) -> MethodResult:
    cfg, m = job.cfg, job.settings
    if job.no_kd_student is None:
        raise ValueError("speq needs the no-KD student to start from")
    student = copy_student(job.no_kd_student)
    q = quantize_student(student, job.x, job.arch, **cfg.method.quantizer_args())
    fq = FakeQuantStudent(student, q)
    teacher = SelfTeacher(fq, m.bits, cfg.seed + 7)
    loss = ScheduledLoss(cfg.kd, cosine_term)
    yt, weights = to_compute(torch.from_numpy(job.y.astype("int64"))), to_compute(job.weights)

    def batch_loss(xb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return loss(fq(xb), yt[idx], teacher(xb), weights)

    with job.task("SPEQ student", m.epochs) as advance:
        history = optimize([fq], job.x, batch_loss, m.epochs, cfg.student.batch_size, m.lr, cfg.seed,
                           on_epoch=lambda *_: advance(), augment=cfg.augmentation(),
                           on_progress=loss.set_progress)
    counts = {g: dict(sorted(Counter(d[g] for d in teacher.draws).items())) for g in ACT_GROUPS}
    return MethodResult(student, {
        "start": "the student without KD", "weight_bits": cfg.method.weight_bits, "calibration": cfg.method.calibration,
        "teacher_bits_choices": m.bits, "teacher_passes": len(teacher.draws), "teacher_bits_drawn": counts,
        "loss": "cross-entropy + alpha * T^2 * (1 - cos(p_student, p_teacher))",
        "alpha": cfg.kd.alpha, "alpha_schedule": cfg.kd.alpha_schedule, "temperature": cfg.kd.temperature,
        "epochs": m.epochs, "lr": m.lr, "loss_per_epoch": [round(v, 5) for v in history],
    })
