"""Ways of training the distilled student, registered by name (`collar-kd train --method`).

Every method receives a StudentJob (one fold's training windows, its teachers, the student
without KD) and returns a plain GRUStudent: whatever helpers a method trains with (fake
quantization, feature transforms, a generator) stay here, so export and verify see the same
student architecture for every method.

  none       the student without distillation (cross-entropy only)
  kd         Hinton knowledge distillation from the ResNet teacher
  qat-kd     KD, then quantization-aware training with KD, coefficient schedule (kd.alpha_schedule)
  speq       self-distillation over stochastic activation precision, cosine-similarity loss
  ensemble   KD from the averaged soft labels of several teachers (method.teachers)
  feed       feature-level ensemble distillation, parallel or sequential (method.feed_mode)
  data-free  DAFL: a generator trained against the teacher; the student sees generated windows only
"""

from __future__ import annotations

from collar_kd.methods.base import METHODS, MethodResult, StudentJob, train_student  # noqa: F401
from collar_kd.methods import plain, qat_kd, speq, ensemble, feed, data_free  # noqa: F401,E402  (register)

METHOD_NAMES = tuple(METHODS)

DESCRIPTIONS = {
    "none": "no distillation (cross-entropy only)",
    "kd": "knowledge distillation from the ResNet teacher (Hinton)",
    "qat-kd": "KD, then quantization-aware training with KD; coefficient schedule",
    "speq": "stochastic-precision self-distillation, cosine-similarity loss",
    "ensemble": "KD from the averaged soft labels of several teachers",
    "feed": "feature-level ensemble distillation (FEED)",
    "data-free": "data-free distillation on generated windows (DAFL)",
}


def method_description(name: str) -> str:
    return DESCRIPTIONS.get(name, name)
