"""Augmentations that fit collar physics, applied to every training batch (a fresh draw each
time a window is seen): the collar sits differently on every animal (rotation about all axes),
sensors differ in gain (amplitude scaling) and noise, and a behaviour does not start on a window
boundary (a small time shift, filled by repeating the edge sample)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def random_rotations(n: int, max_deg: float, gen: torch.Generator) -> torch.Tensor:
    """n rotation matrices, angles uniform in +-max_deg about x, then y, then z."""
    a = (torch.rand(n, 3, generator=gen) * 2 - 1) * (max_deg * torch.pi / 180)
    c, s = torch.cos(a), torch.sin(a)
    one, zero = torch.ones(n), torch.zeros(n)
    rx = torch.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0], c[:, 0]], 1).view(n, 3, 3)
    ry = torch.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero, c[:, 1]], 1).view(n, 3, 3)
    rz = torch.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], 1).view(n, 3, 3)
    return rz @ ry @ rx


@dataclass(frozen=True)
class Augmentation:
    rotation_deg: float = 0.0  # up to this many degrees about each axis
    scale: float = 0.0  # amplitude times 1 + U(-scale, scale), per window
    noise_g: float = 0.0  # Gaussian sensor noise, standard deviation in g
    shift: int = 0  # shift in time by up to this many samples either way

    @property
    def active(self) -> bool:
        return self.rotation_deg > 0 or self.scale > 0 or self.noise_g > 0 or self.shift > 0

    def __call__(self, xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = len(xb)
        if self.rotation_deg > 0:
            xb = xb @ random_rotations(n, self.rotation_deg, gen).transpose(1, 2)
        if self.scale > 0:
            xb = xb * (1.0 + self.scale * (torch.rand(n, 1, 1, generator=gen) * 2 - 1))
        if self.noise_g > 0:
            xb = xb + self.noise_g * torch.randn(xb.shape, generator=gen)
        if self.shift > 0:
            length = xb.shape[1]
            offsets = torch.randint(-self.shift, self.shift + 1, (n, 1), generator=gen)
            idx = (torch.arange(length)[None, :] - offsets).clamp(0, length - 1)
            xb = torch.gather(xb, 1, idx[:, :, None].expand(-1, -1, xb.shape[2]))
        return xb
