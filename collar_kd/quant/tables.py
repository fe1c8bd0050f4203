"""The sigmoid and tanh tables of the fixed-point model (257 Q15 entries over [-8, 8])."""

from __future__ import annotations

import numpy as np

from collar_kd.quant.spec import ACT_MAX, TABLE_INTERVALS


def _points() -> np.ndarray:
    return -8.0 + np.arange(TABLE_INTERVALS + 1) * (16.0 / TABLE_INTERVALS)


def _round_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def sigmoid_table() -> np.ndarray:
    v = _round_away(32768.0 / (1.0 + np.exp(-_points())))
    return np.clip(v, 0, ACT_MAX).astype(np.int16)


def tanh_table() -> np.ndarray:
    v = _round_away(np.tanh(_points()) * 32768.0)
    return np.clip(v, -ACT_MAX, ACT_MAX).astype(np.int16)
