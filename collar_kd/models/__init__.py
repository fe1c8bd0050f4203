"""Models: the ResNet time-series teacher and the GRU-MLP student, both taking (batch, time, 3) in g."""

from collar_kd.models.gru_student import GRUStudent  # noqa: F401
from collar_kd.models.resnet import ResNetTeacher  # noqa: F401
