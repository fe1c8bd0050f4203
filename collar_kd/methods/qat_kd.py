"""QAT with distillation (after an empirical analysis of KD for quantized networks): the student
learns from the teacher's soft labels in float for student.epochs, then through the
fake-quantized integer graph (method.weight_bits weights, int16 activations) for
method.qat_epochs. The soft-term weight follows kd.alpha_schedule over both phases together,
so a decreasing coefficient hands the last, quantized epochs to the hard labels."""

from __future__ import annotations

from collar_kd.distill.losses import ScheduledLoss, kl_term, scheduled_alpha
from collar_kd.methods.base import MethodResult, StudentJob, register
from collar_kd.quant.qat import FakeQuantStudent
from collar_kd.quant.quantizer import quantize_student
from collar_kd.training.loop import fit


@register("qat-kd")
def train_qat_kd(job: StudentJob) -> MethodResult:
    cfg, m = job.cfg, job.cfg.method
    e_float, e_qat = cfg.student.epochs, m.qat_epochs
    total = e_float + e_qat
    loss = ScheduledLoss(cfg.kd, kl_term)
    soft = job.teachers.logits(job.teachers.main_spec)
    student = job.new_student()
    common = dict(teacher_logits=soft, weights=job.weights, rotation_deg=cfg.augment_rotation_deg)
    with job.task("QAT-KD student", total) as advance:
        tick = lambda *_: advance()  # noqa: E731
        float_hist = fit(student, job.x, job.y, loss, e_float, cfg.student.batch_size, cfg.student.lr, cfg.seed,
                         on_epoch=tick, on_progress=lambda p: loss.set_progress(p * e_float / total), **common)
        qat_hist, frac = [], None
        if e_qat > 0:
            # Formats from the float model's calibration stay fixed while the weights adapt.
            q = quantize_student(student, job.x, job.arch, m.weight_bits, m.formats)
            frac = q.frac
            qat_hist = fit(FakeQuantStudent(student, q), job.x, job.y, loss, e_qat, cfg.student.batch_size, m.qat_lr,
                           cfg.seed + 1, on_epoch=tick,
                           on_progress=lambda p: loss.set_progress((e_float + p * e_qat) / total), **common)
    return MethodResult(student, {
        "teacher": str(job.teachers.main_spec),
        "teacher_filters": cfg.teacher.filters,
        "weight_bits": m.weight_bits, "formats": m.formats, "qat_formats": frac,
        "temperature": cfg.kd.temperature, "alpha_schedule": cfg.kd.alpha_schedule,
        "alpha_start": scheduled_alpha(cfg.kd, 0.0), "alpha_at_qat_start": scheduled_alpha(cfg.kd, e_float / total),
        "alpha_end": scheduled_alpha(cfg.kd, 1.0),
        "float_epochs": e_float, "qat_epochs": e_qat, "qat_lr": m.qat_lr,
        "loss_per_epoch": {"float": [round(v, 5) for v in float_hist], "qat": [round(v, 5) for v in qat_hist]},
    })
