"""Knowledge distillation: losses in a registry chosen by config, teacher soft labels cached per fold."""

from collar_kd.distill.losses import LOSSES, kd_loss, make_loss  # noqa: F401
