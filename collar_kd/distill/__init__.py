"""Knowledge distillation: losses in a registry chosen by config, teachers trained once per fold,
and the soft targets a student learns from (cached, or computed on the batch it sees)."""

from collar_kd.distill.losses import LOSSES, kd_loss, make_loss  # noqa: F401
