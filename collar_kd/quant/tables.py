"""The sigmoid and tanh tables of the fixed-point model (257 Q15 entries over [-8, 8])."""

from __future__ import annotations

import numpy as np

from collar_kd.quant.spec import ACT_MAX, GATE_OUT_FRAC, TABLE_MIN, TABLE_POINTS_PER_UNIT, TABLE_SIZE


def _points() -> np.ndarray:
    return TABLE_MIN + np.arange(TABLE_SIZE) / TABLE_POINTS_PER_UNIT


def _round_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def sigmoid_table() -> np.ndarray:
    v = _round_away(2.0**GATE_OUT_FRAC / (1.0 + np.exp(-_points())))
    return np.clip(v, 0, ACT_MAX).astype(np.int16)


def tanh_table() -> np.ndarray:
    v = _round_away(np.tanh(_points()) * 2.0**GATE_OUT_FRAC)
    return np.clip(v, -ACT_MAX, ACT_MAX).astype(np.int16)
