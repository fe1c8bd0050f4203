"""A common sensor frame per animal, without labels (`data.frame = "animal"`).

A collar box is strapped on at a different angle about its own face normal (the sensor's z axis)
on every animal: on the WASP collars x and y change sign and swap from cow to cow while z stays
near -0.85 g (docs/methods.md). Here every animal's samples are turned about z so that its mean
x-y acceleration, its long-run gravity direction, points along +x. Only the animal's own mean is
used, never a label, so a new animal gets its frame from its own unlabelled recording; on the
device it is a running mean (firmware_export/runtime/ckd_frame.h, integer only).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

# Below this mean x-y magnitude (g) the heading is noise (gravity along z): the animal keeps the
# sensor frame. The device uses the same threshold (CKD_FRAME_MIN in ckd_frame.c).
MIN_HEADING_G = 1.0 / 64


def heading(samples: np.ndarray) -> tuple[float, float]:
    """(cos, sin) of the angle of the mean x-y of `samples` (..., 3), or (1, 0) without one."""
    mean = np.asarray(samples, dtype=np.float64).reshape(-1, 3).mean(axis=0)
    r = float(np.hypot(mean[0], mean[1]))
    if not np.isfinite(r) or r < MIN_HEADING_G:
        return 1.0, 0.0
    return float(mean[0] / r), float(mean[1] / r)


def turn(x: np.ndarray, c: float, s: float) -> np.ndarray:
    """Samples (..., 3) turned about z by minus the heading (c, s): (c, s) itself goes to +x."""
    out = np.array(x, dtype=np.float32, copy=True)
    out[..., 0] = c * x[..., 0] + s * x[..., 1]
    out[..., 1] = -s * x[..., 0] + c * x[..., 1]
    return out


def to_common_frame(win, frame: str):
    """Windows with every animal's samples turned by its own heading (frame "animal"); the
    headings, in degrees, recorded in `win.headings`. Frame "sensor" returns `win` unchanged."""
    if frame == "sensor":
        return win
    x = win.x.copy()
    headings = {}
    for animal in np.unique(win.animal):
        mask = win.animal == animal
        c, s = heading(win.x[mask])
        x[mask] = turn(win.x[mask], c, s)
        headings[str(animal)] = round(float(np.degrees(np.arctan2(s, c))), 2)
    return replace(win, x=x, headings=headings)
