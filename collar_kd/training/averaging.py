"""Weight averaging over the last epochs of training (after SWA, Izmailov et al. 2018).

The average of a network's weights at the end of its last few epochs often generalises better
to inputs unlike its training windows than the last weights alone (SWAD, Cha et al. 2021, for
domain shift). The data-free student is where that shift is largest: it learns on generated
windows and is judged on a real cow's. The student has no batch norm, so the averaged weights
need no recomputed statistics.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def averaged_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of several state dicts of one network, summed in float64 in the
    order given and cast back to each tensor's own dtype (the same states give the same bits)."""
    if not states:
        raise ValueError("averaged_state: no states to average")
    out = {}
    for name, first in states[0].items():
        total = torch.zeros(first.shape, dtype=torch.float64)
        for state in states:
            total += state[name].detach().to("cpu", torch.float64)
        out[name] = (total / len(states)).to(first.dtype)
    return out


class LastEpochsAverage:
    """Keeps `model`'s weights at the end of each of the last `epochs` of `total` epochs (an
    on_epoch hook of training.loop.fit), and `apply()` puts their mean into the model."""

    def __init__(self, model: nn.Module, epochs: int, total: int, then: Callable[[int, float], None] | None = None):
        self.model, self.epochs, self.total, self.then = model, epochs, total, then
        self.states: list[dict[str, torch.Tensor]] = []

    def __call__(self, epoch: int, loss: float) -> None:
        if epoch >= self.total - self.epochs:
            self.states.append({k: v.detach().to("cpu").clone() for k, v in self.model.state_dict().items()})
        if self.then is not None:
            self.then(epoch, loss)

    def apply(self) -> None:
        if self.states:
            self.model.load_state_dict(averaged_state(self.states))
