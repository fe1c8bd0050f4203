"""No distillation, and Hinton knowledge distillation from the run's ResNet teacher."""

from __future__ import annotations

import numpy as np

from collar_kd.distill.losses import make_loss, scheduled_alpha, with_unlabelled
from collar_kd.distill.targets import cached_targets, soft_targets
from collar_kd.distill.transfer import transfer_specs, transfer_windows
from collar_kd.methods.base import MethodResult, StudentJob, copy_student, register
from collar_kd.quant.qat import qat_finetune
from collar_kd.quant.quantizer import quantize_student
from collar_kd.training.loop import LABELS_ITS_INPUT, fit, predict_logits


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
    if job.unlabelled_only and (job.unlabelled_x is None or not len(job.unlabelled_x)):
        raise ValueError("unlabelled_only: the job has no unlabelled windows")
    x, y, loss = job.x, job.y, make_loss(cfg.kd)
    # Windows without labels: unlabelled recordings or the held-out animal's, then the transfer set
    # (none when the job trains on the unlabelled windows alone).
    transfer = None if job.unlabelled_only else transfer_windows(cfg.kd, job.x, job.teachers.animals, cfg.seed)
    parts = [v for v in (job.unlabelled_x, transfer) if v is not None and len(v)]
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
        unlabelled = np.full(len(extra), -1, dtype=np.int64)  # -1: no label
        if job.unlabelled_only:  # the targets' table keeps the training windows' rows first: skip them
            x, y, targets = extra, unlabelled, skipping(targets, len(job.x))
        else:
            x, y = np.concatenate([job.x, extra]), np.concatenate([job.y, unlabelled])
        loss = with_unlabelled(cfg.kd)
    student = job.initial_student()
    epochs, lr = job.schedule()
    with job.task(label, epochs) as advance:
        history = fit(student, x, y, loss, epochs, cfg.student.batch_size,
                      lr, cfg.seed, targets=targets, weights=job.weights,
                      on_epoch=lambda *_: advance(), augment=cfg.augmentation(), mixup=cfg.kd.mixup,
                      temperature=cfg.kd.temperature)
    return student, history, mode


def skipping(targets, offset: int):
    """Targets looked up `offset` rows further on (a table computed for the training windows
    followed by others, used on the others alone); targets that label their input pass through."""
    if getattr(targets, LABELS_ITS_INPUT, False):
        return targets
    return lambda xb, idx: targets(xb, idx + offset)


def quantization_aware_finish(job: StudentJob, student) -> tuple[object, dict]:
    """kd.qat_epochs > 0: the distilled student's last epochs, through the fake-quantized integer
    graph of the run's word length, calibration and weight formats (formats from the labelled
    training windows), towards its own float soft labels and the labels, with the run's KD loss
    and class weights, on the labelled windows as they are. Its own soft labels, not a teacher's:
    the finish is to keep what the float student knows in the integer model the collar runs
    (docs/methods.md, "A quantization-aware finish"). Returns the tuned student and what the
    method report records of the finish ({} when off)."""
    cfg = job.cfg
    if not cfg.kd.qat_epochs:
        return student, {}
    q = quantize_student(student, job.x, job.arch, **cfg.method.quantizer_args())
    own = cached_targets(predict_logits(student, job.x))
    with job.task("quantization-aware finish", cfg.kd.qat_epochs) as advance:
        _, tuned, report = qat_finetune(student, q, job.x, job.y, own, make_loss(cfg.kd), cfg.kd.qat_epochs, cfg.seed,
                                        weights=job.weights, on_epoch=lambda *_: advance())
    report = {k: v for k, v in report.items() if k != "augment"}  # its seconds go to manifest.json
    return tuned, {"qat_finish": {**report, "targets": "the student's own float soft labels",
                                  **cfg.method.precision()}}


@register("kd", "knowledge distillation from the ResNet teacher (Hinton)", learns_from_unlabelled=True,
          soft_labels=True)
def train_kd(job: StudentJob) -> MethodResult:
    cfg = job.cfg
    student, history, mode = distill_student(job, [job.teachers.main_spec], "KD student")
    student, finish = quantization_aware_finish(job, student)
    return MethodResult(student, {"teacher": str(job.teachers.main_spec), "loss": cfg.kd.loss, "teaching": mode,
                                  "unlabelled_windows": 0 if job.unlabelled_x is None else len(job.unlabelled_x),
                                  "alpha": [scheduled_alpha(cfg.kd, 0.0), scheduled_alpha(cfg.kd, 1.0)],
                                  "temperature": cfg.kd.temperature, "loss_per_epoch": rounded(history), **finish})


def rounded(values) -> list[float]:
    return [round(float(v), 5) for v in values]
