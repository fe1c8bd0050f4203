"""The windows `make verify` runs through every target: real, synthetic and adversarial."""

from __future__ import annotations

import numpy as np

from collar_kd.data.synthetic import DEFAULT_SETTINGS, SyntheticSettings, generate
from collar_kd.data.windows import make_windows, resample
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.quant.spec import ACT_MAX


def adversarial_windows(n: int, length: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Full-scale noise, constants (rails included), alternating saturation, long runs at a
    clipping rail, steps between rails, and slow full-scale ramps: the inputs that find overflow."""
    rng = np.random.default_rng(seed)
    kinds = ["full_scale_noise", "constant", "alternating_saturation", "rail_run", "rail_steps", "ramp"]
    out, names = [], []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "full_scale_noise":
            w = rng.integers(-ACT_MAX, ACT_MAX + 1, size=(length, 3))
        elif kind == "constant":
            levels = [ACT_MAX, -ACT_MAX, 0, 1, -1, 16384, -16384]
            w = np.tile([levels[(i + k) % len(levels)] for k in range(3)], (length, 1))
        elif kind == "alternating_saturation":
            sign = np.where(np.arange(length) % 2 == 0, 1, -1)[:, None]
            w = sign * ACT_MAX * rng.choice([-1, 1], size=(1, 3))
        elif kind == "rail_run":  # one axis pinned at a rail (a clipped sensor), the others moving
            w = rng.integers(-ACT_MAX // 4, ACT_MAX // 4, size=(length, 3))
            w[:, i % 3] = ACT_MAX if (i // 3) % 2 == 0 else -ACT_MAX
        elif kind == "rail_steps":
            w = np.where(rng.random((length, 3)) < 0.5, ACT_MAX, -ACT_MAX)
        else:
            w = np.linspace(-ACT_MAX, ACT_MAX, length)[:, None].repeat(3, axis=1)
            w = w[::-1] if i % 2 else w
        out.append(np.asarray(w, dtype=np.int64))
        names.append(kind)
    return np.clip(np.stack(out), -ACT_MAX, ACT_MAX).astype(np.int16), names


def synthetic_windows(q: QuantizedStudent, n: int, seed: int) -> np.ndarray:
    rec = resample(generate(SyntheticSettings.from_file(DEFAULT_SETTINGS), seed=seed), q.sample_rate_hz)
    classes = tuple(sorted({b.label for b in rec.bouts}))
    win = make_windows(rec, classes, q.window_length, max(1, q.window_length // 2))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(win), size=min(n, len(win)), replace=False)
    return q.quantize_input(win.x[np.sort(pick)])


def sample_windows(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(x) <= n:
        return x
    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(len(x), size=n, replace=False))]
