"""The device's animal frame (firmware_export/runtime/ckd_frame.c), bit for bit, in integers.

A running sum of the input-format x and y of every sample; before each window, the heading's
cosine and sine in Q15 from an integer square root; every sample of the window turned about z by
minus it. Python integers throughout, C's truncating division emulated.
"""

from __future__ import annotations

import math

import numpy as np

from collar_kd.sim.kernels import rq, sat16

ONE = 1 << 15  # 1.0 in Q15
UINT32_MAX = 2**32 - 1


def min_mean(frac_x: int) -> int:
    """1/64 g in the input format (collar_kd/data/frame.py, MIN_HEADING_G)."""
    return 1 << max(frac_x - 6, 0)


def _div_trunc(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class IntegerFrame:
    def __init__(self, frac_x: int):
        self.frac_x = frac_x
        self.sum = [0, 0]
        self.n = 0
        self.c, self.s = ONE, 0

    def add(self, samples: np.ndarray) -> None:
        """Samples (n, 3) of the input format, in time order."""
        samples = np.asarray(samples, dtype=np.int64).reshape(-1, 3)
        take = min(len(samples), UINT32_MAX - self.n)
        self.sum[0] += int(samples[:take, 0].sum())
        self.sum[1] += int(samples[:take, 1].sum())
        self.n += take

    def update(self) -> None:
        m = max(abs(self.sum[0]), abs(self.sum[1]))
        shift = 0
        while (m >> shift) >= 32768:
            shift += 1
        x, y = self.sum[0] >> shift, self.sum[1] >> shift  # floor, as C's arithmetic shift
        r = math.isqrt(x * x + y * y)
        if r == 0 or (r << shift) < self.n * min_mean(self.frac_x):
            self.c, self.s = ONE, 0
            return
        self.c, self.s = _div_trunc(x * ONE, r), _div_trunc(y * ONE, r)

    def turn(self, samples: np.ndarray) -> np.ndarray:
        """Samples (..., 3) int of the input format, turned by the current heading (int64)."""
        v = np.asarray(samples, dtype=np.int64)
        out = v.copy()
        out[..., 0] = sat16(rq(self.c * v[..., 0] + self.s * v[..., 1], 15))
        out[..., 1] = sat16(rq(self.c * v[..., 1] - self.s * v[..., 0], 15))
        return out


def frame_samples(xq: np.ndarray, frac_x: int, every: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The twin of the test shim's shim_frame_stream: every sample (n, 3) added in turn, the
    heading updated after every `every` samples, each sample turned by the heading current after
    its own step. (turned samples int64, the last (c, s))."""
    frame, out = IntegerFrame(frac_x), np.zeros(np.shape(xq), np.int64)
    for i in range(len(xq)):
        frame.add(xq[i:i + 1])
        if (i + 1) % every == 0:
            frame.update()
        out[i] = frame.turn(xq[i])
    return out, (frame.c, frame.s)


def stream_windows(xq: np.ndarray, frac_x: int, length: int, stride: int) -> np.ndarray:
    """What ckd_stream_push feeds the model with CKD_FRAME: every window of the sample stream xq
    (n, 3) (the first after `length` samples, then every `stride`), turned by the heading of all
    samples up to its end. (windows, length, 3) int64."""
    frame = IntegerFrame(frac_x)
    out, added = [], 0
    for end in range(length, len(xq) + 1, stride):
        frame.add(xq[added:end])
        added = end
        frame.update()
        out.append(frame.turn(xq[end - length:end]))
    return np.stack(out) if out else np.zeros((0, length, 3), dtype=np.int64)
