"""ResNet for time-series classification (Wang, Yan & Oates 2017), the teacher.

Residual blocks of three convolutions (kernel sizes 8/5/3 by default) with batch norm and
ReLU; 64/128/128 filters; global average pooling; a linear output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from collar_kd.models.pooled_teacher import PooledTeacher


class SameConv1d(nn.Conv1d):
    """A "same" convolution: pads (k-1)//2 on the left and k//2 on the right, so even kernels work."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0]
        return super().forward(F.pad(x, ((k - 1) // 2, k // 2)))


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernels: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        c = c_in
        for i, k in enumerate(kernels):
            layers += [SameConv1d(c, c_out, k, bias=False), nn.BatchNorm1d(c_out)]
            if i < len(kernels) - 1:
                layers.append(nn.ReLU())
            c = c_out
        self.body = nn.Sequential(*layers)
        self.shortcut = (
            nn.Sequential(nn.Conv1d(c_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out))
            if c_in != c_out
            else nn.BatchNorm1d(c_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNetTeacher(PooledTeacher):
    def __init__(self, n_classes: int, filters: list[int] = (64, 128, 128), kernels: list[int] = (8, 5, 3), channels: int = 3):
        super().__init__()
        self.filters, self.kernels, self.channels = list(filters), list(kernels), channels
        blocks, c = [], channels
        for f in self.filters:
            blocks.append(ResidualBlock(c, f, self.kernels))
            c = f
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(c, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, (batch, filters, time)."""
        return self.blocks(x.transpose(1, 2))

    def mults_per_window(self, length: int) -> int:
        """Multiplications of one forward pass (convolutions, batch-norm scales, pooling, output)."""
        total, c = 0, self.channels
        for f in self.filters:
            cin = c
            for k in self.kernels:
                total += length * cin * f * k + length * f  # conv + BN scale
                cin = f
            if c != f:
                total += length * c * f
            total += length * f  # shortcut BN
            c = f
        return total + c + c * self.out.out_features  # mean (one scale per channel) + linear
