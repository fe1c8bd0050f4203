"""Feature-level ensemble distillation (FEED). The student's GRU hidden-state sequence
(batch, T, H) is mapped to each teacher's last feature map (batch, C, T) by its own small
non-linear transform (1x1 convolution, ReLU, 1x1 convolution); the feature term is the squared
distance between the two maps, each scaled to unit length per window. Parallel FEED trains
against all teachers at once; sequential FEED one teacher after another, student.epochs
shared out between them. Cross-entropy on the labels throughout.

The transforms exist only here: the returned student is a plain GRUStudent."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dataclasses import dataclass

from collar_kd.errors import ConfigError
from collar_kd.distill.teachers import parse_teacher_spec
from collar_kd.methods.base import MethodResult, StudentJob, check_positive, register
from collar_kd.methods.ensemble import TeacherSet
from collar_kd.models import GRUStudent
from collar_kd.training.device import to_compute
from collar_kd.training.loop import optimize


class FeatureTransform(nn.Module):
    def __init__(self, hidden: int, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(hidden, channels, 1), nn.ReLU(), nn.Conv1d(channels, channels, 1))

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(batch, T, hidden) -> (batch, channels, T)."""
        return self.body(seq.transpose(1, 2))


def feature_distance(student_map: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of |u_s - u_t|^2, u the map flattened and scaled to unit length
    (0 when they agree up to scale, at most 4)."""
    u_s = F.normalize(student_map.flatten(1), dim=1)
    u_t = F.normalize(teacher_map.flatten(1).float(), dim=1)
    return ((u_s - u_t) ** 2).sum(dim=1).mean()


def _stage(job: StudentJob, student: GRUStudent, teacher_maps: list[torch.Tensor], transforms: list[FeatureTransform],
           epochs: int, seed: int, advance) -> list[float]:
    cfg = job.cfg
    yt = to_compute(torch.from_numpy(job.y.astype("int64")))
    weights, teacher_maps = to_compute(job.weights), [to_compute(m) for m in teacher_maps]
    beta = job.settings.weight

    def batch_loss(xb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        seq = student.hidden_sequence(xb)
        ce = F.cross_entropy(student.classify(seq[:, -1]), yt[idx], weight=weights)
        feat = sum(feature_distance(t(seq), maps[idx]) for t, maps in zip(transforms, teacher_maps)) / len(transforms)
        return ce + beta * feat

    return optimize([student, *transforms], job.x, batch_loss, epochs, cfg.student.batch_size, cfg.student.lr, seed,
                    on_epoch=lambda *_: advance(), augment=cfg.augmentation())


@dataclass
class FEEDSettings(TeacherSet):
    mode: str = "parallel"  # parallel | sequential
    weight: float = 1.0  # weight of the feature term against cross-entropy

    def check(self) -> None:
        super().check()
        if self.mode not in ("parallel", "sequential"):
            raise ConfigError(f"method.mode: must be 'parallel' or 'sequential', not '{self.mode}'")
        check_positive(self, "weight", strict=False)


@register("feed", "feature-level ensemble distillation (FEED), parallel or sequential", FEEDSettings)
def train_feed(job: StudentJob) -> MethodResult:
    cfg, m = job.cfg, job.settings
    specs = [parse_teacher_spec(s) for s in m.teachers]
    maps = [job.teachers.features(s) for s in specs]
    student = job.new_student()
    torch.manual_seed(cfg.seed + 1)
    transforms = [FeatureTransform(cfg.student.hidden, fm.shape[1]) for fm in maps]
    stages = []
    with job.task(f"FEED ({m.mode}) student", cfg.student.epochs) as advance:
        if m.mode == "parallel":
            stages.append({"teachers": [str(s) for s in specs], "epochs": cfg.student.epochs,
                           "loss_per_epoch": _stage(job, student, maps, transforms, cfg.student.epochs, cfg.seed, advance)})
        else:
            share = [cfg.student.epochs // len(specs) + (i < cfg.student.epochs % len(specs)) for i in range(len(specs))]
            for i, (spec, fm, tr, epochs) in enumerate(zip(specs, maps, transforms, share)):
                if epochs:
                    stages.append({"teachers": [str(spec)], "epochs": epochs,
                                   "loss_per_epoch": _stage(job, student, [fm], [tr], epochs, cfg.seed + i, advance)})
    for st in stages:
        st["loss_per_epoch"] = [round(v, 5) for v in st["loss_per_epoch"]]
    return MethodResult(student, {
        "mode": m.mode, "teachers": [str(s) for s in specs], "feature_weight": m.weight,
        "transform_params_training_only": sum(p.numel() for t in transforms for p in t.parameters()),
        "teacher_seconds": {str(s): job.teachers.seconds.get(s) for s in specs}, "stages": stages,
    })
