"""The GRU-MLP student: input perceptron (ReLU), one unidirectional GRU layer, MLP head.

The GRU is PyTorch's `nn.GRU` (gates r, z, n; separate input and hidden biases), which is the
algebra the fixed-point export keeps. Classification uses the hidden state after the last
sample, so a device can advance the state one sample at a time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GRUStudent(nn.Module):
    def __init__(self, n_classes: int, hidden: int = 32, head: int = 32, channels: int = 3):
        super().__init__()
        self.hidden, self.head, self.channels, self.n_classes = hidden, head, channels, n_classes
        self.inp = nn.Linear(channels, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.fc1 = nn.Linear(hidden, head)
        self.fc2 = nn.Linear(head, n_classes)

    def hidden_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """GRU hidden states for every time step, (batch, time, hidden)."""
        seq, _ = self.gru(F.relu(self.inp(x)))
        return seq

    def classify(self, h_last: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(h_last)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.hidden_sequence(x)[:, -1])

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def mults_per_window(self, length: int) -> int:
        h, c = self.hidden, self.channels
        per_step = c * h + 2 * 3 * h * h + 3 * h  # input layer, both GRU matrices, r*(.), z*h, (1-z)*n
        return length * per_step + h * self.head + self.head * self.n_classes
