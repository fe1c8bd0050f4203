"""Distillation losses, registered by name so a config chooses one.

Every loss has the signature loss(student_logits, labels, teacher_logits, class_weights) and
is built from a KDConfig by `make_loss`.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from collar_kd.config import KDConfig
from collar_kd.errors import ConfigError
from collar_kd.training.loop import LossFn
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


def scheduled_alpha(cfg: KDConfig, progress: float) -> float:
    """The soft-term weight at `progress` (0 = first step, 1 = end of training)."""
    p = min(max(progress, 0.0), 1.0)
    if cfg.alpha_schedule == "linear":
        return cfg.alpha + (cfg.alpha_end - cfg.alpha) * p
    if cfg.alpha_schedule == "cosine":
        return cfg.alpha_end + (cfg.alpha - cfg.alpha_end) * 0.5 * (1.0 + math.cos(math.pi * p))
    return cfg.alpha


def soft_window_weights(cfg: KDConfig, y: torch.Tensor, t: torch.Tensor,
                        class_weights: torch.Tensor | None) -> torch.Tensor | None:
    """Per-window weights of the soft term (kd.soft_weighting): None for "none" (Hinton: every
    window counts the same); for "class", the class weight of the window's label, or of the
    teacher's top class for a window without one (label -1), so that the soft term, which is most
    of the loss, is balanced over behaviours like the hard term."""
    if cfg.soft_weighting != "class" or class_weights is None:
        return None
    return class_weights[torch.where(y >= 0, y, t.argmax(dim=1))]


def corrected_teacher(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """kd.teacher_correction = "swap": where the teacher's top class is not the window's label,
    its logits of the two classes exchanged (softmax commutes with the exchange, so at any T the
    two probabilities swap and every other class keeps its own). Windows without a label (-1) and
    windows the teacher gets right are returned as they are."""
    top = t.argmax(dim=1)
    rows = ((y >= 0) & (top != y)).nonzero(as_tuple=True)[0]
    if len(rows) == 0:
        return t
    out = t.clone()
    out[rows, y[rows]] = t[rows, top[rows]]
    out[rows, top[rows]] = t[rows, y[rows]]
    return out


def weighted_mean(rows: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The mean of per-window values, weighted like cross-entropy's (sum w l / sum w)."""
    return rows.mean() if weights is None else (rows * weights).sum() / weights.sum().clamp_min(1e-12)


class ScheduledLoss:
    """A loss whose soft-term weight follows kd.alpha_schedule; the training loop calls
    set_progress before every step."""

    def __init__(self, cfg: KDConfig, soft_term: Callable[..., torch.Tensor]):
        self.cfg, self.soft_term = cfg, soft_term
        self.alpha = scheduled_alpha(cfg, 0.0)

    def set_progress(self, progress: float) -> None:
        self.alpha = scheduled_alpha(self.cfg, progress)

    def __call__(self, s, y, t, w) -> torch.Tensor:
        hard = F.cross_entropy(s, y, weight=w)
        if self.alpha == 0.0:
            return hard
        if self.cfg.teacher_correction == "swap":
            t = corrected_teacher(t, y)
        soft = self.soft_term(s, t, self.cfg.temperature, soft_window_weights(self.cfg, y, t, w))
        return (1.0 - self.alpha) * hard + self.alpha * soft


def kl_term(s: torch.Tensor, t: torch.Tensor, temperature: float, weights: torch.Tensor | None = None) -> torch.Tensor:
    """T^2 * KL(p_teacher^T || p_student^T), the soft term of Hinton's loss (per-window
    `weights`: a weighted mean over the batch)."""
    log_q = F.log_softmax(s / temperature, dim=1)
    p = F.softmax(t / temperature, dim=1)
    if weights is None:
        return temperature * temperature * F.kl_div(log_q, p, reduction="batchmean")
    return temperature * temperature * weighted_mean(F.kl_div(log_q, p, reduction="none").sum(dim=1), weights)


def cosine_term(s: torch.Tensor, t: torch.Tensor, temperature: float, weights: torch.Tensor | None = None) -> torch.Tensor:
    """T^2 * (1 - cos(p_student^T, p_teacher^T)): SPEQ's cosine-similarity distillation term,
    on the softened probability vectors and scaled like the KL term."""
    p_s = F.softmax(s / temperature, dim=1)
    p_t = F.softmax(t / temperature, dim=1)
    return temperature * temperature * weighted_mean(1.0 - F.cosine_similarity(p_s, p_t, dim=1), weights)


@register("kd")
def _kd(cfg: KDConfig) -> LossFn:
    if cfg.alpha_schedule == "constant" and cfg.soft_weighting == "none" and cfg.teacher_correction == "none":
        return lambda s, y, t, w: kd_loss(s, y, t, cfg.alpha, cfg.temperature, w)
    return ScheduledLoss(cfg, kl_term)


@register("cosine")
def _cosine(cfg: KDConfig) -> LossFn:
    """Cross-entropy plus the cosine-similarity soft term (SPEQ)."""
    return ScheduledLoss(cfg, cosine_term)


@register("ce")
def _ce(cfg: KDConfig) -> LossFn:
    """Plain cross-entropy on the labels: the student without distillation."""
    return lambda s, y, t, w: F.cross_entropy(s, y, weight=w)


def with_unlabelled(cfg: KDConfig) -> LossFn:
    """The KD loss for batches that mix labelled windows with unlabelled ones (label -1): the
    soft term over every window, the hard term over the labelled ones only, weighted by
    kd.alpha (or its schedule) as in Hinton's loss. Unlabelled windows teach through the
    teacher's soft labels alone."""
    scheduled = ScheduledLoss(cfg, kl_term)

    def loss(s: torch.Tensor, y: torch.Tensor, t: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        labelled = y >= 0
        alpha = scheduled.alpha
        if cfg.teacher_correction == "swap":
            t = corrected_teacher(t, y)
        soft = kl_term(s, t, cfg.temperature, soft_window_weights(cfg, y, t, w))
        if not bool(labelled.any()):
            return alpha * soft
        return (1.0 - alpha) * F.cross_entropy(s[labelled], y[labelled], weight=w) + alpha * soft

    loss.set_progress = scheduled.set_progress  # the training loop follows the schedule through it
    return loss


def check_loss(cfg: KDConfig) -> None:
    """kd.loss names a registered loss (the run checks it before any training)."""
    if cfg.loss not in LOSSES:
        raise ConfigError(f"kd.loss: unknown loss '{cfg.loss}' (known: {', '.join(sorted(LOSSES))})")


def make_loss(cfg: KDConfig) -> LossFn:
    check_loss(cfg)
    return LOSSES[cfg.loss](cfg)
