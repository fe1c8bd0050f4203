"""Augmentations that fit collar physics, applied to every training batch (a fresh draw each
time a window is seen): the collar sits differently on every animal (rotation about all axes,
or with a limit per sensor axis: a sensor box strapped on at any angle about its own face
normal, tilted a little about the others),
sensors differ in gain (amplitude scaling) and noise, and a behaviour does not start on a window
boundary (a small time shift, filled by repeating the edge sample)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def random_rotations(n: int, max_deg: float | tuple[float, float, float], gen: torch.Generator) -> torch.Tensor:
    """n rotation matrices, angles uniform in +-max_deg about x, then y, then z (one limit for
    all three axes, or one per axis)."""
    if isinstance(max_deg, (int, float)):
        a = (torch.rand(n, 3, generator=gen) * 2 - 1) * (max_deg * torch.pi / 180)
    else:
        a = (torch.rand(n, 3, generator=gen) * 2 - 1) * (torch.tensor(max_deg, dtype=torch.float64) * torch.pi / 180).float()
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
    # Or a limit per sensor axis (x, y, z), in place of rotation_deg: on the WASP collars, the
    # sensor box sits at any angle about its z axis from cow to cow, tilted only a little about x and y.
    rotation_axes_deg: tuple[float, float, float] | None = None

    @property
    def rotation_limits(self) -> float | tuple[float, float, float] | None:
        """The random rotations' limits as random_rotations takes them, or None without rotations."""
        if self.rotation_axes_deg is not None:
            return tuple(self.rotation_axes_deg) if any(self.rotation_axes_deg) else None
        return self.rotation_deg if self.rotation_deg > 0 else None

    @property
    def active(self) -> bool:
        return self.rotation_deg > 0 or bool(self.rotation_axes_deg and any(self.rotation_axes_deg)) or self.scale > 0 or self.noise_g > 0 or self.shift > 0

    def __call__(self, xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = len(xb)
        if (limits := self.rotation_limits) is not None:
            xb = xb @ random_rotations(n, limits, gen).transpose(1, 2)
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
