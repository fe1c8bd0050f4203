"""Integer kernels, vectorized over a batch, exactly as docs/fixed-point.md defines them.

All arrays are int64 holding the integer values. Matrix products are summed in float64,
which is exact here (every partial sum is below 2^53; see the overflow argument), so BLAS
can be used without changing a single bit.
"""

from __future__ import annotations

import numpy as np

from collar_kd.quant.spec import ACT_INPUT_OFFSET, ACT_MAX, GATE_OUT_FRAC, TABLE_SHIFT, TABLE_WEIGHT_MASK, gate_shift

INT32_MAX = 2**31 - 1


def rq(v: np.ndarray, s) -> np.ndarray:
    """Re-quantize by s bits: add half and shift right (round half up); s < 0 shifts left. `s` is
    one shift, or one per element of the last axis (a layer's shift per output row)."""
    v = np.asarray(v, dtype=np.int64)
    if np.ndim(s):
        s = np.asarray(s, dtype=np.int64)
        right, left = np.maximum(s, 0), np.maximum(-s, 0)
        half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
        return ((v + half) >> right) << left
    if s > 0:
        return (v + (1 << (s - 1))) >> s
    if s < 0:
        return v << (-s)
    return v


def sat16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -ACT_MAX, ACT_MAX)


def sat32(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -INT32_MAX, INT32_MAX)


def matvec_acc(w: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    """bias + x @ w.T for a batch x (n, k): exact integers (float64 BLAS, < 2^53)."""
    prod = x.astype(np.float64) @ w.astype(np.float64).T
    return prod.astype(np.int64) + bias.astype(np.int64)


def fc(w: np.ndarray, bias: np.ndarray, x: np.ndarray, shift, relu: bool) -> np.ndarray:
    """sat16(rq(bias + x @ w.T, shift)), shift per output row (or one for all), then ReLU."""
    out = sat16(rq(matvec_acc(w, bias, x), shift))
    return np.maximum(out, 0) if relu else out


def act_lookup(p: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Q12 input -> Q15 output by a 257-entry table with linear interpolation."""
    u = np.asarray(p, dtype=np.int64) + ACT_INPUT_OFFSET
    i = u >> TABLE_SHIFT
    w = u & TABLE_WEIGHT_MASK
    t = table.astype(np.int64)
    return t[i] + rq((t[i + 1] - t[i]) * w, TABLE_SHIFT)


def gru_step(gi: np.ndarray, gh: np.ndarray, h: np.ndarray, f_g: int, sig_t: np.ndarray, tanh_t: np.ndarray):
    """One GRU update from the two pre-activation vectors (batch, 3H); returns r, z, n, h'."""
    hidden = h.shape[-1]
    s = gate_shift(f_g)
    gi_r, gi_z, gi_n = gi[:, :hidden], gi[:, hidden : 2 * hidden], gi[:, 2 * hidden :]
    gh_r, gh_z, gh_n = gh[:, :hidden], gh[:, hidden : 2 * hidden], gh[:, 2 * hidden :]
    r = act_lookup(sat16(rq(gi_r + gh_r, s)), sig_t)
    z = act_lookup(sat16(rq(gi_z + gh_z, s)), sig_t)
    m = sat16(rq(r * gh_n, GATE_OUT_FRAC))
    n = act_lookup(sat16(rq(gi_n + m, s)), tanh_t)
    h_new = sat16(n + rq(z * (h - n), GATE_OUT_FRAC))
    return r, z, n, h_new
