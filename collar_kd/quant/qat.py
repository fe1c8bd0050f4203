"""Quantization-aware fine-tuning: the float student trained through a fake-quantized copy of
the integer graph (straight-through estimator), towards the teacher's soft labels.

The fake-quantized forward follows docs/fixed-point.md: every tensor is rounded and saturated
in its Q format, sigmoid and tanh are the interpolated tables, the softmax is gone from the
graph (the loss applies it to the integer-scaled logits). Formats stay those of the initial
calibration; the integer model is re-derived from the tuned weights afterwards.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from collar_kd.models import GRUStudent
from collar_kd.quant.quantizer import QuantizedStudent, quantize_student
from collar_kd.quant.spec import (ACT_MAX, GATE_IN_FRAC, GATE_OUT_FRAC, HIDDEN_FRAC, TABLE_INTERVALS, TABLE_MIN,
                                  TABLE_POINTS_PER_UNIT, weight_max)
from collar_kd.training.augment import Augmentation
from collar_kd.training.loop import LossFn, Targets, fit


def fake_quant(v: torch.Tensor, frac, limit: int) -> torch.Tensor:
    """round(v * 2^f) saturated to +-limit, back to real units; the gradient passes straight through.
    `frac`: one fractional length, or a tensor that broadcasts against v (one per weight row)."""
    scale = 2.0**frac
    q = torch.clamp(torch.floor(v * scale + 0.5), -limit, limit) / scale
    return v + (q - v).detach()


def table_act(p: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    """The interpolated Q15 table on a Q12 pre-activation (differentiable: piecewise linear)."""
    t = torch.tensor(table.astype(np.float32) / 2.0**GATE_OUT_FRAC, device=p.device)
    u = (torch.clamp(p, TABLE_MIN, -TABLE_MIN - 2.0**-GATE_IN_FRAC) - TABLE_MIN) * TABLE_POINTS_PER_UNIT
    i = torch.clamp(torch.floor(u).long(), 0, TABLE_INTERVALS - 1)
    w = u - i.to(u.dtype)
    return t[i] + (t[i + 1] - t[i]) * w


ACT_GROUPS = ("a", "g", "h", "y")  # input layer, GRU pre-activations, GRU gates and state, MLP head


class FakeQuantStudent(torch.nn.Module):
    """The student's integer graph in floating point. `act_bits` (optional, per group of
    ACT_GROUPS) narrows a layer's activations to fewer bits over the same range, or leaves
    them unrounded with 0; the default, 16 everywhere, is the exported integer path."""

    def __init__(self, student: GRUStudent, q: QuantizedStudent):
        super().__init__()
        self.s, self.q = student, q
        self.tables = q.tables

    def _fc(self, layer: str, w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        rows = torch.as_tensor(self.q.weight_frac(layer), dtype=w.dtype, device=w.device)[:, None]  # per row
        wq = fake_quant(w, rows, weight_max(self.q.bits(layer)))
        return F.linear(x, wq, b)

    @staticmethod
    def _aq(v: torch.Tensor, frac: int, group: str, act_bits: dict[str, int] | None) -> torch.Tensor:
        bits = 16 if act_bits is None else act_bits.get(group, 16)
        if bits == 0:
            return v
        return fake_quant(v, frac - (16 - bits), 2 ** (bits - 1) - 1)

    def forward(self, x: torch.Tensor, act_bits: dict[str, int] | None = None) -> torch.Tensor:
        f, s, g = self.q.frac, self.s, self.s.gru
        hidden = s.hidden
        aq = lambda v, frac, group: self._aq(v, frac, group, act_bits)  # noqa: E731
        x = fake_quant(x, f["x"], ACT_MAX)  # the sensor side: always the input format
        a = aq(F.relu(self._fc("inp", s.inp.weight, s.inp.bias, x)), f["a"], "a")
        gi_all = aq(self._fc("ih", g.weight_ih_l0, g.bias_ih_l0, a), f["g"], "g")
        h = x.new_zeros(x.shape[0], hidden)
        for t in range(x.shape[1]):
            gi = gi_all[:, t]
            gh = aq(self._fc("hh", g.weight_hh_l0, g.bias_hh_l0, h), f["g"], "g")
            r = aq(table_act(gi[:, :hidden] + gh[:, :hidden], self.tables["sigmoid"]), HIDDEN_FRAC, "h")
            z = aq(table_act(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden], self.tables["sigmoid"]), HIDDEN_FRAC, "h")
            m = aq(r * gh[:, 2 * hidden :], f["g"], "g")
            n = aq(table_act(gi[:, 2 * hidden :] + m, self.tables["tanh"]), HIDDEN_FRAC, "h")
            h = aq(n + z * (h - n), HIDDEN_FRAC, "h")
        y = aq(F.relu(self._fc("fc1", s.fc1.weight, s.fc1.bias, h)), f["y"], "y")
        return self._fc("fc2", s.fc2.weight, s.fc2.bias, y)


def qat_finetune(student: GRUStudent, q: QuantizedStudent, x: np.ndarray, y: np.ndarray, targets: Targets, loss: LossFn,
                 epochs: int, seed: int, weights: torch.Tensor | None = None, augment: Augmentation | None = None,
                 batch_size: int = 128, lr: float = 5e-4,
                 on_epoch: Callable[[int, float], None] | None = None) -> tuple[QuantizedStudent, GRUStudent, dict]:
    """Fine-tune a copy of `student` through the fake-quantized graph of `q` with `loss` (a KD
    loss from distill.losses, its coefficient schedule included) towards `targets`, in the one
    training loop, then quantize the tuned weights with the same word length and calibration."""
    tuned = GRUStudent(student.n_classes, student.hidden, student.head, student.channels)
    tuned.load_state_dict(student.state_dict())
    started = time.time()
    history = fit(FakeQuantStudent(tuned, q), x, y, loss, epochs, batch_size, lr, seed,
                  targets=targets, weights=weights, augment=augment, on_epoch=on_epoch)
    tuned.eval()
    arch = {"classes": q.classes, "sample_rate_hz": q.sample_rate_hz, "window_length": q.window_length}
    q_new = quantize_student(tuned, x, arch, q.weight_bits, q.calibration, q.weight_formats, q.layer_bits, q.rounding)
    return q_new, tuned, {"epochs": epochs, "lr": lr, "batch_size": batch_size,
                          "loss_per_epoch": [round(v, 5) for v in history], "class_weights": weights is not None,
                          "augment": None if augment is None else vars(augment),
                          "seconds": round(time.time() - started, 1)}
