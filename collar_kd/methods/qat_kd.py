"""QAT with distillation (after an empirical analysis of KD for quantized networks): the student
learns from the teacher's soft labels in float for student.epochs, then through the
fake-quantized integer graph (method.weight_bits weights, int16 activations) for
method.epochs. The soft-term weight follows kd.alpha_schedule over both phases together,
so a decreasing coefficient hands the last, quantized epochs to the hard labels."""

from __future__ import annotations

from dataclasses import dataclass

from collar_kd.config import MAX_EPOCHS
from collar_kd.distill.losses import ScheduledLoss, kl_term, scheduled_alpha
from collar_kd.distill.targets import soft_targets
from collar_kd.methods.base import MethodResult, StudentJob, check_at_most, check_positive, register
from collar_kd.methods.plain import rounded
from collar_kd.quant.qat import FakeQuantStudent
from collar_kd.quant.quantizer import quantize_student
from collar_kd.training.loop import fit


@dataclass
class QATSettings:
    epochs: int = 5  # epochs through the fake-quantized graph, after the float KD epochs
    lr: float = 5e-4

    def check(self) -> None:
        check_positive(self, "epochs", strict=False)
        check_at_most(self, MAX_EPOCHS, "epochs")
        check_positive(self, "lr")


@register("qat-kd", "KD, then quantization-aware training with KD; coefficient schedule", QATSettings,
          soft_labels=True)
def train_qat_kd(job: StudentJob) -> MethodResult:
    cfg, s = job.cfg, job.settings
    e_float, e_qat = cfg.student.epochs, s.epochs
    total = e_float + e_qat
    loss = ScheduledLoss(cfg.kd, kl_term)
    targets, mode = soft_targets(job.teachers, [job.teachers.main_spec], cfg.kd.teaching, cfg.kd.temperature,
                                 cfg.augmentation().active, crossfit_groups=cfg.kd.crossfit_groups)
    student = job.new_student()
    common = dict(targets=targets, weights=job.weights, augment=cfg.augmentation())
    with job.task("QAT-KD student", total) as advance:
        tick = lambda *_: advance()  # noqa: E731
        float_hist = fit(student, job.x, job.y, loss, e_float, cfg.student.batch_size, cfg.student.lr, cfg.seed,
                         on_epoch=tick, on_progress=lambda p: loss.set_progress(p * e_float / total), **common)
        qat_hist, frac = [], None
        if e_qat > 0:
            # Formats from the float model's calibration stay fixed while the weights adapt.
            q = quantize_student(student, job.x, job.arch, **cfg.method.quantizer_args())
            frac = q.frac
            qat_hist = fit(FakeQuantStudent(student, q), job.x, job.y, loss, e_qat, cfg.student.batch_size, s.lr,
                           cfg.seed + 1, on_epoch=tick,
                           on_progress=lambda p: loss.set_progress((e_float + p * e_qat) / total), **common)
    return MethodResult(student, {
        "teacher": str(job.teachers.main_spec), "teaching": mode,
        "teacher_filters": cfg.teacher.filters,
        "weight_bits": cfg.method.weight_bits, "calibration": cfg.method.calibration, "qat_formats": frac,
        "temperature": cfg.kd.temperature, "alpha_schedule": cfg.kd.alpha_schedule,
        "alpha_start": scheduled_alpha(cfg.kd, 0.0), "alpha_at_qat_start": scheduled_alpha(cfg.kd, e_float / total),
        "alpha_end": scheduled_alpha(cfg.kd, 1.0),
        "float_epochs": e_float, "qat_epochs": e_qat, "qat_lr": s.lr,
        "loss_per_epoch": {"float": rounded(float_hist), "qat": rounded(qat_hist)},
    })
