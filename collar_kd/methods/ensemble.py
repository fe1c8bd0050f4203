"""Output-level ensemble distillation: the soft labels are the average of several teachers'
softened probabilities (teachers of different seeds and architectures, method.teachers)."""

from __future__ import annotations

import numpy as np

from collar_kd.distill.losses import make_loss, scheduled_alpha
from collar_kd.distill.teachers import parse_teacher_spec
from collar_kd.methods.base import MethodResult, StudentJob, register
from collar_kd.training.loop import fit


def ensemble_logits(logits: list[np.ndarray], temperature: float) -> np.ndarray:
    """T * log(mean_i softmax(z_i / T)): logits whose softmax at T is exactly the teachers'
    mean probability at T, so the ordinary KD loss distils the averaged soft labels."""
    z = np.stack([np.asarray(v, dtype=np.float64) / temperature for v in logits])
    z -= z.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    return (temperature * np.log(np.maximum(p.mean(axis=0), 1e-30))).astype(np.float32)


@register("ensemble")
def train_ensemble(job: StudentJob) -> MethodResult:
    cfg = job.cfg
    specs = [parse_teacher_spec(s) for s in cfg.method.teachers]
    soft = ensemble_logits([job.teachers.logits(s) for s in specs], cfg.kd.temperature)
    student = job.new_student()
    with job.task("ensemble-KD student", cfg.student.epochs) as advance:
        history = fit(student, job.x, job.y, make_loss(cfg.kd), cfg.student.epochs, cfg.student.batch_size,
                      cfg.student.lr, cfg.seed, teacher_logits=soft, weights=job.weights,
                      on_epoch=lambda *_: advance(), rotation_deg=cfg.augment_rotation_deg)
    return MethodResult(student, {
        "teachers": [str(s) for s in specs],
        "teacher_seconds": {str(s): job.teachers.seconds.get(s) for s in specs},
        "combination": "mean of softened probabilities",
        "alpha": [scheduled_alpha(cfg.kd, 0.0), scheduled_alpha(cfg.kd, 1.0)], "temperature": cfg.kd.temperature,
        "loss_per_epoch": [round(v, 5) for v in history],
    })
