"""Output-level ensemble distillation: the soft labels are the average of several teachers'
softened probabilities (teachers of different seeds and architectures, method.teachers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from collar_kd.distill.losses import scheduled_alpha
from collar_kd.distill.teachers import parse_teacher_spec
from collar_kd.errors import ConfigError
from collar_kd.methods.base import MethodResult, StudentJob, register
from collar_kd.methods.plain import distill_student, quantization_aware_finish, rounded


@dataclass
class TeacherSet:
    # Teachers as "arch:seed" or "arch" (the run's seed), arch resnet | fcn | forest; network sizes
    # from [teacher], the forest is the baseline's recipe. ["resnet", "forest"]: the ResNet and the
    # window-statistics forest, which fail on different animals (docs/methods.md).
    teachers: list[str] = field(default_factory=lambda: ["resnet:0", "fcn:0", "fcn:1"])

    def check(self) -> None:
        if not self.teachers:
            raise ConfigError("method.teachers: needs at least one teacher ('arch:seed')")
        for spec in self.teachers:
            parse_teacher_spec(spec, run_seed=0)  # the form only: 'arch' alone takes the run's seed later


@register("ensemble", "KD from the averaged soft labels of several teachers", TeacherSet, learns_from_unlabelled=True,
          combines_teachers=True, soft_labels=True)
def train_ensemble(job: StudentJob) -> MethodResult:
    cfg = job.cfg
    specs = [parse_teacher_spec(s, cfg.seed) for s in job.settings.teachers]
    student, history, mode = distill_student(job, specs, "ensemble-KD student")
    student, finish = quantization_aware_finish(job, student)
    job.combined_teacher = job.teachers.combined(specs)  # evaluated as the row kd_teacher
    return MethodResult(student, {
        "teachers": [str(s) for s in specs],
        "teacher_seconds": {str(s): job.teachers.seconds.get(s) for s in specs},
        "combination": "mean of softened probabilities", "teaching": mode,
        "alpha": [scheduled_alpha(cfg.kd, 0.0), scheduled_alpha(cfg.kd, 1.0)], "temperature": cfg.kd.temperature,
        "loss_per_epoch": rounded(history), **finish,
    })
