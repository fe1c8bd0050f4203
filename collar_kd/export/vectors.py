"""Binary golden-vector files shared by the exporter, the C verify harness and `make verify`.

inputs:  "CKDI", u32 version=1, u32 windows, u32 length, u32 channels=3, then int16 samples
outputs: "CKDO", u32 version=1, u32 windows, u32 classes, u32 hidden, u32 model id, then per
         window int32 logits[classes], int32 class, int16 h[hidden]      (all little-endian)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collar_kd.errors import FileFormatError, reading

VERSION = 1


def write_inputs(path: Path, xq: np.ndarray) -> None:
    n, t, c = xq.shape
    header = np.array([VERSION, n, t, c], dtype="<u4").tobytes()
    Path(path).write_bytes(b"CKDI" + header + np.ascontiguousarray(xq, dtype="<i2").tobytes())


def read_inputs(path: Path) -> np.ndarray:
    with reading(path, "collar-kd golden input file"):
        raw = Path(path).read_bytes()
    if len(raw) < 20 or raw[:4] != b"CKDI":
        raise FileFormatError(f"{path}: not a collar-kd golden input file (got {len(raw)} bytes)")
    _, n, t, c = (int(v) for v in np.frombuffer(raw[4:20], dtype="<u4"))
    if len(raw) != 20 + 2 * n * t * c or c != 3:
        raise FileFormatError(f"{path}: {len(raw)} bytes, expected {20 + 2 * n * t * c} for {n} windows of {t} x {c} "
                              "samples (truncated or corrupted: export again)")
    return np.frombuffer(raw[20:], dtype="<i2").reshape(n, t, c)


@dataclass
class Outputs:
    logits: np.ndarray  # (n, C) int32
    classes: np.ndarray  # (n,) int32
    h: np.ndarray  # (n, H) int16
    model_id: int


def _record_dtype(n_classes: int, hidden: int) -> np.dtype:
    return np.dtype([("logits", "<i4", (n_classes,)), ("cls", "<i4"), ("h", "<i2", (hidden,))])


def write_outputs(path: Path, logits: np.ndarray, classes: np.ndarray, h: np.ndarray, model_id: int) -> None:
    n, c = logits.shape
    hidden = h.shape[1]
    rec = np.zeros(n, dtype=_record_dtype(c, hidden))
    rec["logits"], rec["cls"], rec["h"] = logits, classes, h
    header = np.array([VERSION, n, c, hidden, model_id], dtype="<u4").tobytes()
    Path(path).write_bytes(b"CKDO" + header + rec.tobytes())


def read_outputs(path: Path) -> Outputs:
    with reading(path, "collar-kd output file"):
        raw = Path(path).read_bytes()
    if len(raw) < 24 or raw[:4] != b"CKDO":
        raise FileFormatError(f"{path}: not a collar-kd output file (got {len(raw)} bytes)")
    _, n, c, hidden, model_id = (int(v) for v in np.frombuffer(raw[4:24], dtype="<u4"))
    dt = _record_dtype(c, hidden)
    expected = 24 + n * dt.itemsize
    if len(raw) != expected:
        raise FileFormatError(f"{path}: {len(raw)} bytes, expected {expected} for {n} windows (truncated?)")
    rec = np.frombuffer(raw[24:], dtype=dt)
    return Outputs(rec["logits"].copy(), rec["cls"].copy(), rec["h"].copy(), model_id)
