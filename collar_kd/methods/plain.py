"""No distillation, and Hinton knowledge distillation from the run's ResNet teacher."""

from __future__ import annotations

from collar_kd.distill.losses import make_loss, scheduled_alpha
from collar_kd.methods.base import MethodResult, StudentJob, copy_student, register
from collar_kd.training.loop import fit


@register("none")
def train_none(job: StudentJob) -> MethodResult:
    """The student without KD (the same model as `student`), so a run can export it."""
    if job.no_kd_student is None:
        raise ValueError("method 'none' needs the no-KD student")
    return MethodResult(copy_student(job.no_kd_student), {"note": "the student without distillation"})


@register("kd")
def train_kd(job: StudentJob) -> MethodResult:
    cfg = job.cfg
    soft = job.teachers.logits(job.teachers.main_spec)
    student = job.new_student()
    with job.task("KD student", cfg.student.epochs) as advance:
        history = fit(student, job.x, job.y, make_loss(cfg.kd), cfg.student.epochs, cfg.student.batch_size,
                      cfg.student.lr, cfg.seed, teacher_logits=soft, weights=job.weights,
                      on_epoch=lambda *_: advance(), rotation_deg=cfg.augment_rotation_deg)
    return MethodResult(student, {"teacher": str(job.teachers.main_spec), "loss": cfg.kd.loss,
                                  "alpha": [scheduled_alpha(cfg.kd, 0.0), scheduled_alpha(cfg.kd, 1.0)],
                                  "temperature": cfg.kd.temperature, "loss_per_epoch": _r(history)})


def _r(values) -> list[float]:
    return [round(float(v), 5) for v in values]
