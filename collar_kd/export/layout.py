"""How the exporter stores an 8-bit dense layer for ckd_fc_s8.c: the weight order (blocks of
ROW_BLOCK rows, groups of four columns as (w0, w2, w1, w3)) and the bias with the rounding
constant folded in. The simulator keeps the natural order and the plain bias; these functions are
the only translation between the two."""

from __future__ import annotations

import numpy as np

from collar_kd.errors import CollarKDError
from collar_kd.quant.spec import ACT_MAX, FOLD_SHIFT_MAX, FOLD_SHIFT_MIN, ROW_BLOCK

INT32_MAX = 2**31 - 1


class BiasFoldOverflow(CollarKDError):
    """A bias plus the folded rounding constant could overflow the int32 accumulator."""


def _row_order(rows: np.ndarray) -> np.ndarray:
    """Rows stored on their own: every full group of four columns as (w0, w2, w1, w3), then the tail."""
    n, full = rows.shape[0], (rows.shape[1] // 4) * 4
    out = rows.copy()
    out[:, :full] = rows[:, :full].reshape(n, full // 4, 4)[:, :, [0, 2, 1, 3]].reshape(n, full)
    return out


def block_layout_s8(w: np.ndarray) -> np.ndarray:
    """The flat storage order of an int8 matrix (rows, cols) read by ckd_fc_s8.c.

    Per block of ROW_BLOCK rows: for each full group of four columns the block's rows one after
    another, each as (w0, w2, w1, w3); then the block's tail columns row after row. Rows after the
    last full block follow in the per-row order."""
    rows, cols = w.shape
    full_rows = (rows // ROW_BLOCK) * ROW_BLOCK
    groups, full = cols // 4, (cols // 4) * 4
    parts = []
    for b in range(0, full_rows, ROW_BLOCK):
        block = _row_order(w[b : b + ROW_BLOCK])
        # (ROW_BLOCK, groups, 4) -> (groups, ROW_BLOCK, 4): the four rows' words of one group together
        parts.append(block[:, :full].reshape(ROW_BLOCK, groups, 4).transpose(1, 0, 2).ravel())
        parts.append(block[:, full:].ravel())
    parts.append(_row_order(w[full_rows:]).ravel())
    return np.concatenate(parts).astype(w.dtype)


def folds(shift, weight_bits: int) -> bool:
    """Whether this layer's stored bias carries the rounding constant (8-bit requantized layers):
    every row's shift (one, or one per row) lies in the folded range."""
    s = np.asarray(shift)
    return weight_bits <= 8 and bool(np.all((s >= FOLD_SHIFT_MIN) & (s <= FOLD_SHIFT_MAX)))


def fold_rounding(w: np.ndarray, bias: np.ndarray, shift, layer: str = "layer") -> np.ndarray:
    """bias + 2^(shift-1) (shift: one, or one per row), after proving for every row that
    bias + 2^(shift-1) + sum |w| * 32767 stays within int32, so `acc >> shift` on the device
    equals rq(acc, shift) bit for bit."""
    shift = np.broadcast_to(np.asarray(shift, np.int64), np.shape(bias))
    folded = np.asarray(bias, np.int64) + np.left_shift(1, shift - 1)
    bound = np.abs(folded) + np.abs(np.asarray(w, np.int64)).sum(axis=1) * ACT_MAX
    bad = np.nonzero(bound > INT32_MAX)[0]
    if len(bad):
        i = int(bad[0])
        raise BiasFoldOverflow(
            f"layer '{layer}', row {i}: the bias {int(bias[i])} plus the rounding constant 2^{int(shift[i]) - 1} and the largest "
            f"possible sum ({int(bound[i]):,}) would overflow the int32 accumulator of ckd_fc_s8; this model cannot be "
            "exported with 8-bit weights (re-calibrate, or export with --weight-bits 16)")
    return folded
