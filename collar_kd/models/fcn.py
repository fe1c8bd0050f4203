"""Fully convolutional network for time series (Wang, Yan & Oates 2017): a second teacher
architecture for ensembles. Three convolution + batch norm + ReLU layers, global average
pooling, a linear output; same interface as the ResNet teacher."""

from __future__ import annotations

import torch
from torch import nn

from collar_kd.models.pooled_teacher import PooledTeacher
from collar_kd.models.resnet import SameConv1d


class FCNTeacher(PooledTeacher):
    def __init__(self, n_classes: int, filters: list[int] = (64, 128, 128), kernels: list[int] = (8, 5, 3), channels: int = 3):
        super().__init__()
        self.filters, self.kernels, self.channels = list(filters), list(kernels), channels
        if len(self.filters) != len(self.kernels):
            raise ValueError("FCNTeacher: one kernel size per layer")
        layers: list[nn.Module] = []
        c = channels
        for f, k in zip(self.filters, self.kernels):
            layers += [SameConv1d(c, f, k, bias=False), nn.BatchNorm1d(f), nn.ReLU()]
            c = f
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(c, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, (batch, filters, time)."""
        return self.body(x.transpose(1, 2))

    def mults_per_window(self, length: int) -> int:
        total, c = 0, self.channels
        for f, k in zip(self.filters, self.kernels):
            total += length * c * f * k + length * f  # conv + BN scale
            c = f
        return total + c + c * self.out.out_features
