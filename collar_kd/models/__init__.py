"""Models: the teachers (ResNet, FCN) and the GRU-MLP student, all taking (batch, time, 3) in g."""

from collar_kd.models.fcn import FCNTeacher  # noqa: F401
from collar_kd.models.gru_student import GRUStudent  # noqa: F401
from collar_kd.models.resnet import ResNetTeacher  # noqa: F401

TEACHER_ARCHS = {"resnet": ResNetTeacher, "fcn": FCNTeacher}
