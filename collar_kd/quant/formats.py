"""Choosing fractional lengths and quantizing arrays (floating point: this is the offline side)."""

from __future__ import annotations

import math

import numpy as np


def round_half_up(v: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(v, dtype=np.float64) + 0.5)


def quantize(values: np.ndarray, frac: int, limit: int) -> np.ndarray:
    """round(v * 2^frac), saturated to +-limit, as int64."""
    q = round_half_up(np.asarray(values, dtype=np.float64) * 2.0**frac)
    return np.clip(q, -limit, limit).astype(np.int64)


def frac_for_range(max_abs: float, limit: int) -> int:
    """The largest f with max_abs * 2^f <= limit (range-based dynamic fixed point)."""
    if not max_abs > 0 or not math.isfinite(max_abs):
        return int(math.floor(math.log2(limit)))  # an all-zero tensor: any format works
    return int(math.floor(math.log2(limit / max_abs)))


def frac_min_error(values: np.ndarray, limit: int, extra: int = 4) -> int:
    """Of the range-based length and up to `extra` finer ones (which clip outliers), the one
    with the smallest mean squared quantization error on `values`."""
    v = np.asarray(values, dtype=np.float64).ravel()
    base = frac_for_range(float(np.abs(v).max()) if v.size else 0.0, limit)
    best, best_err = base, math.inf
    for f in range(base, base + extra + 1):
        err = float(np.mean((quantize(v, f, limit) * 2.0**-f - v) ** 2))
        if err < best_err - 1e-18:
            best, best_err = f, err
    return best
