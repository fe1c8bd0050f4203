"""No distillation, and Hinton knowledge distillation from the run's ResNet teacher."""

from __future__ import annotations

import numpy as np

from collar_kd.distill.losses import make_loss, scheduled_alpha, with_unlabelled
from collar_kd.distill.targets import soft_targets
from collar_kd.distill.transfer import transfer_specs, transfer_windows
from collar_kd.methods.base import MethodResult, StudentJob, copy_student, register
from collar_kd.training.loop import fit, predict_logits


@register("none", "no distillation (cross-entropy only)")
def train_none(job: StudentJob) -> MethodResult:
    """The student without KD (the same model as `student`), so a run can export it."""
    if job.no_kd_student is None:
        raise ValueError("method 'none' needs the no-KD student")
    return MethodResult(copy_student(job.no_kd_student), {"note": "the student without distillation"})


def distill_student(job: StudentJob, specs: list, label: str) -> tuple[object, list[float], str]:
    """A student (fresh, or job.start_from fine-tuned on the job's schedule) trained with the
    run's KD loss towards the teachers `specs` (their averaged soft labels), cached or
    consistent by kd.teaching; with job.unlabelled_x, also on
    those windows through the soft term only. Returns it, the loss per epoch and the teaching
    mode used."""
    cfg = job.cfg
    x, y, loss = job.x, job.y, make_loss(cfg.kd)
    # Windows without labels: unlabelled recordings or the held-out animal's, then the transfer set.
    parts = [v for v in (job.unlabelled_x, transfer_windows(cfg.kd, job.x, job.teachers.animals, cfg.seed))
             if v is not None and len(v)]
    extra = np.concatenate(parts) if parts else None
    own = None  # the strict student's labels of the unlabelled windows (transductive_labels)
    if job.unlabelled_labeller is not None and job.unlabelled_x is not None and len(job.unlabelled_x):
        own = predict_logits(job.unlabelled_labeller, job.unlabelled_x)
    targets, mode = soft_targets(job.teachers, specs, cfg.kd.teaching, cfg.kd.temperature, cfg.augmentation().active,
                                 extra_x=extra, crossfit_groups=cfg.kd.crossfit_groups,
                                 student_logits=own, student_labels=cfg.transductive_labels,
                                 unlabelled_count=0 if job.unlabelled_x is None else len(job.unlabelled_x),
                                 unlabelled_specs=job.unlabelled_teachers,
                                 transfer_specs=transfer_specs(cfg.kd, cfg.seed) or None)
    if extra is not None:
        x = np.concatenate([job.x, extra])
        y = np.concatenate([job.y, np.full(len(extra), -1, dtype=np.int64)])  # -1: no label
        loss = with_unlabelled(cfg.kd)
    student = job.initial_student()
    epochs, lr = job.schedule()
    with job.task(label, epochs) as advance:
        history = fit(student, x, y, loss, epochs, cfg.student.batch_size,
                      lr, cfg.seed, targets=targets, weights=job.weights,
                      on_epoch=lambda *_: advance(), augment=cfg.augmentation(), mixup=cfg.kd.mixup,
                      temperature=cfg.kd.temperature)
    return student, history, mode


@register("kd", "knowledge distillation from the ResNet teacher (Hinton)", learns_from_unlabelled=True,
          soft_labels=True)
def train_kd(job: StudentJob) -> MethodResult:
    cfg = job.cfg
    student, history, mode = distill_student(job, [job.teachers.main_spec], "KD student")
    return MethodResult(student, {"teacher": str(job.teachers.main_spec), "loss": cfg.kd.loss, "teaching": mode,
                                  "unlabelled_windows": 0 if job.unlabelled_x is None else len(job.unlabelled_x),
                                  "alpha": [scheduled_alpha(cfg.kd, 0.0), scheduled_alpha(cfg.kd, 1.0)],
                                  "temperature": cfg.kd.temperature, "loss_per_epoch": rounded(history)})


def rounded(values) -> list[float]:
    return [round(float(v), 5) for v in values]
