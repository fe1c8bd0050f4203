"""What every convolutional teacher shares: a last feature map (batch, C, time) that feature-level
distillation reads, global average pooling and a linear output `out`."""

from __future__ import annotations

import torch
from torch import nn


class PooledTeacher(nn.Module):
    out: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x).mean(dim=2))

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
