"""Cutting bouts into fixed-length windows (never across bouts) and resampling to a model rate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from collar_kd.data.recordings import Bout, Recordings
from collar_kd.errors import ConfigError, DataError


def parse_span(text: str | int | float, sample_rate: float, field: str) -> int:
    """'5s' / '2.5 s' -> samples at `sample_rate`; '50' or 50 -> 50 samples."""
    s = str(text).strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|seconds|samples)?", s)
    if m is None:
        raise ConfigError(f"{field}: '{text}' is neither a number of samples nor seconds like '5s'")
    value, unit = float(m[1]), m[2]
    samples = value * sample_rate if unit in ("s", "sec", "seconds") else value
    if unit in (None, "samples") and not value.is_integer():
        raise ConfigError(f"{field}: a number of samples must be whole, not {text}")
    n = int(round(samples))
    if n < 1:
        raise ConfigError(f"{field}: '{text}' is less than one sample at {sample_rate:g} Hz")
    return n


def resample(rec: Recordings, target_rate: float) -> Recordings:
    """Polyphase resampling of every bout to `target_rate` (anti-aliased by scipy)."""
    if target_rate <= 0:
        raise ConfigError(f"sample_rate: must be positive, not {target_rate}")
    if abs(target_rate - rec.sample_rate) < 1e-9:
        return rec
    ratio = Fraction(target_rate / rec.sample_rate).limit_denominator(1000)
    up, down = ratio.numerator, ratio.denominator
    bouts = [
        replace(b, samples=resample_poly(b.samples.astype(np.float64), up, down, axis=0).astype(np.float32))
        for b in rec.bouts
    ]
    return Recordings(bouts, sample_rate=rec.sample_rate * up / down, source=rec.source, dropped=dict(rec.dropped))


def hash_arrays(h, *arrays) -> None:
    """Feed every array's dtype, shape and bytes to the hashlib object `h`: how the digests that
    key kept work (a run's folds, a pool's teachers, a benchmark's students) see windows, labels,
    class weights and animals."""
    for part in arrays:
        a = np.ascontiguousarray(part)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())


@dataclass
class Windows:
    x: np.ndarray  # (n, length, 3) float32, g
    y: np.ndarray  # (n,) int64 class index
    animal: np.ndarray  # (n,) animal id per window
    classes: tuple[str, ...]
    sample_rate: float
    length: int
    stride: int
    skipped_bouts: dict[str, int]  # class -> bouts too short for one window
    headings: dict[str, float] = field(default_factory=dict)  # animal -> degrees turned (data/frame.py)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, mask: np.ndarray) -> "Windows":
        return replace(self, x=self.x[mask], y=self.y[mask], animal=self.animal[mask])

    def class_support(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}


def _cut(bout: Bout, length: int, stride: int) -> np.ndarray:
    starts = np.arange(0, len(bout) - length + 1, stride)
    idx = starts[:, None] + np.arange(length)[None, :]
    return bout.samples[idx]


def make_windows(rec: Recordings, classes: tuple[str, ...], length: int, stride: int) -> Windows:
    if length < 2 or stride < 1:
        raise ConfigError(f"window length must be >= 2 and stride >= 1 samples (got {length}, {stride})")
    index = {c: i for i, c in enumerate(classes)}
    xs, ys, animals = [], [], []
    skipped: dict[str, int] = {}
    for b in rec.bouts:
        if b.label not in index:
            raise DataError(b.source, f"label '{b.label}' is not one of the model's classes {list(classes)}")
        if len(b) < length:
            skipped[b.label] = skipped.get(b.label, 0) + 1
            continue
        w = _cut(b, length, stride)
        xs.append(w)
        ys.append(np.full(len(w), index[b.label], dtype=np.int64))
        animals.append(np.full(len(w), b.animal, dtype=object))
    if not xs:
        raise DataError(
            rec.source,
            f"every bout is shorter than one window of {length} samples ({length / rec.sample_rate:g} s); "
            "use a shorter --window",
        )
    return Windows(
        x=np.concatenate(xs).astype(np.float32),
        y=np.concatenate(ys),
        animal=np.concatenate(animals).astype(str),
        classes=tuple(classes),
        sample_rate=rec.sample_rate,
        length=length,
        stride=stride,
        skipped_bouts=skipped,
    )
