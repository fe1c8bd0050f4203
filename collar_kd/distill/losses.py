"""Distillation losses, registered by name so a config chooses one.

Every loss has the signature loss(student_logits, labels, teacher_logits, class_weights) and
is built from a KDConfig by `make_loss`.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from collar_kd.config import KDConfig

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None], torch.Tensor]
LOSSES: dict[str, Callable[[KDConfig], LossFn]] = {}


def register(name: str):
    def wrap(factory):
        LOSSES[name] = factory
        return factory

    return wrap


def kd_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    alpha: float,
    temperature: float,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hinton et al.: (1 - alpha) * CE(student, labels) + alpha * T^2 * KL(p_teacher^T || p_student^T).

    KL(p || q) = sum p (log p - log q), averaged over the batch. `F.kl_div` takes the student's
    log-probabilities first and the teacher's probabilities second; 'batchmean' is the true KL.
    """
    hard = F.cross_entropy(student_logits, labels, weight=class_weights)
    t = temperature
    log_q = F.log_softmax(student_logits / t, dim=1)
    p = F.softmax(teacher_logits / t, dim=1)
    soft = F.kl_div(log_q, p, reduction="batchmean")
    return (1.0 - alpha) * hard + alpha * t * t * soft


@register("kd")
def _kd(cfg: KDConfig) -> LossFn:
    return lambda s, y, t, w: kd_loss(s, y, t, cfg.alpha, cfg.temperature, w)


@register("ce")
def _ce(cfg: KDConfig) -> LossFn:
    """Plain cross-entropy on the labels: the student without distillation."""
    return lambda s, y, t, w: F.cross_entropy(s, y, weight=w)


def make_loss(cfg: KDConfig) -> LossFn:
    try:
        return LOSSES[cfg.loss](cfg)
    except KeyError:
        from collar_kd.errors import ConfigError

        raise ConfigError(f"kd.loss: unknown loss '{cfg.loss}' (known: {', '.join(sorted(LOSSES))})") from None
