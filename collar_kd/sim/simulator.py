"""The fixed-point student, vectorized over a batch of windows, with every intermediate on request
and a streaming interface identical to the C one (reset / step / classify)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.sim.kernels import fc, gru_step, matvec_acc, sat32

STEP_TENSORS = ("a", "gi", "gh", "r", "z", "n", "h")  # per time step, in computation order
HEAD_TENSORS = ("y", "logits")


@dataclass
class SimResult:
    logits: np.ndarray  # (n, C) int64 (values fit int32)
    classes: np.ndarray  # (n,) argmax, ties to the lowest index
    h: np.ndarray  # (n, H) final hidden state
    trace: dict[str, np.ndarray] | None = None  # name -> (n, T, k) per step, (n, k) for the head


class Stream:
    """One GRU state per window in a batch, advanced one accelerometer sample at a time."""

    def __init__(self, q: QuantizedStudent, batch: int = 1):
        self.q, self.batch = q, batch
        self._tables = q.tables
        self._shifts = q.shifts
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros((self.batch, self.q.hidden), dtype=np.int64)
        self.steps = 0

    def step(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x: (batch, 3) int16 in the input format. Returns this step's tensors."""
        q, s = self.q, self._shifts
        x = np.asarray(x, dtype=np.int64).reshape(self.batch, 3)
        a = fc(q.weights["inp"], q.biases["inp"], x, s["inp"], relu=True)
        gi = fc(q.weights["ih"], q.biases["ih"], a, s["ih"], relu=False)
        gh = fc(q.weights["hh"], q.biases["hh"], self.h, s["hh"], relu=False)
        r, z, n, h = gru_step(gi, gh, self.h, q.frac["g"], self._tables["sigmoid"], self._tables["tanh"])
        self.h = h
        self.steps += 1
        return {"a": a, "gi": gi, "gh": gh, "r": r, "z": z, "n": n, "h": h}

    def classify(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Integer logits and class (argmax, ties to the lowest index) from the current state."""
        q = self.q
        y = fc(q.weights["fc1"], q.biases["fc1"], self.h, self._shifts["fc1"], relu=True)
        logits = sat32(matvec_acc(q.weights["fc2"], q.biases["fc2"], y))
        return logits, np.argmax(logits, axis=1), {"y": y, "logits": logits}


class FixedPointSimulator:
    def __init__(self, q: QuantizedStudent):
        self.q = q

    def run(self, xq: np.ndarray, trace: bool = False, batch: int = 4096) -> SimResult:
        """xq: (n, T, 3) int16 windows in the input format."""
        xq = np.asarray(xq)
        if xq.ndim != 3 or xq.shape[2] != 3:
            raise ValueError(f"expected windows of shape (n, T, 3), got {xq.shape}")
        parts = [self._run(xq[i : i + batch], trace) for i in range(0, len(xq), batch)] or [self._run(xq[:0], trace)]
        tr = None
        if trace:
            tr = {k: np.concatenate([p.trace[k] for p in parts]) for k in parts[0].trace}
        return SimResult(
            logits=np.concatenate([p.logits for p in parts]),
            classes=np.concatenate([p.classes for p in parts]),
            h=np.concatenate([p.h for p in parts]),
            trace=tr,
        )

    def _run(self, xq: np.ndarray, trace: bool) -> SimResult:
        stream = Stream(self.q, batch=len(xq))
        steps: dict[str, list] = {k: [] for k in STEP_TENSORS}
        for t in range(xq.shape[1]):
            out = stream.step(xq[:, t])
            if trace:
                for k in STEP_TENSORS:
                    steps[k].append(out[k])
        logits, classes, head = stream.classify()
        tr = None
        if trace:
            tr = {k: np.stack(v, axis=1) for k, v in steps.items()} | head
        return SimResult(logits=logits, classes=classes, h=stream.h, trace=tr)
