"""Quantization-aware fine-tuning: the float student trained through a fake-quantized copy of
the integer graph (straight-through estimator), towards the teacher's soft labels.

The fake-quantized forward follows docs/fixed-point.md: every tensor is rounded and saturated
in its Q format, sigmoid and tanh are the interpolated tables, the softmax is gone from the
graph (the loss applies it to the integer-scaled logits). Formats stay those of the initial
calibration; the integer model is re-derived from the tuned weights afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from collar_kd.config import KDConfig, config_from_dict
from collar_kd.distill.losses import make_loss
from collar_kd.models import GRUStudent
from collar_kd.quant.quantizer import QuantizedStudent, quantize_student
from collar_kd.quant.spec import ACT_MAX, GATE_IN_FRAC, HIDDEN_FRAC, weight_max
from collar_kd.runs import load_model, read_json
from collar_kd.training.loop import predict_logits


def fake_quant(v: torch.Tensor, frac: int, limit: int) -> torch.Tensor:
    """round(v * 2^f) saturated to +-limit, back to real units; the gradient passes straight through."""
    scale = 2.0**frac
    q = torch.clamp(torch.floor(v * scale + 0.5), -limit, limit) / scale
    return v + (q - v).detach()


def table_act(p: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    """The interpolated Q15 table on a Q12 pre-activation (differentiable: piecewise linear)."""
    t = torch.tensor(table.astype(np.float32) / 32768.0)
    u = (torch.clamp(p, -8.0, 8.0 - 2.0**-GATE_IN_FRAC) + 8.0) * 16.0
    i = torch.clamp(torch.floor(u).long(), 0, 255)
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
        wq = fake_quant(w, self.q.frac[f"w_{layer}"], weight_max(self.q.weight_bits))
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
        h = torch.zeros(x.shape[0], hidden)
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


def qat_finetune(run_dir: Path, student: GRUStudent, arch: dict, x: np.ndarray, y: np.ndarray, q: QuantizedStudent,
                 epochs: int, seed: int, batch_size: int = 128, lr: float = 5e-4) -> tuple[QuantizedStudent, GRUStudent, dict]:
    """Fine-tune a copy of `student` through the fake-quantized graph with the run's KD loss
    (teacher soft labels, computed once), then quantize the tuned weights."""
    cfg = config_from_dict(read_json(Path(run_dir) / "config.json"))
    teacher, _ = load_model(run_dir, "teacher")
    return qat_with_teacher(student, teacher, arch, x, y, q, epochs, seed, cfg.kd, batch_size, lr)


def qat_with_teacher(student: GRUStudent, teacher: torch.nn.Module, arch: dict, x: np.ndarray, y: np.ndarray,
                     q: QuantizedStudent, epochs: int, seed: int, kd: KDConfig, batch_size: int = 128,
                     lr: float = 5e-4) -> tuple[QuantizedStudent, GRUStudent, dict]:
    soft = torch.from_numpy(predict_logits(teacher, x))
    tuned = GRUStudent(student.n_classes, student.hidden, student.head_size)
    tuned.load_state_dict(student.state_dict())
    fq = FakeQuantStudent(tuned, q)
    loss_fn = make_loss(KDConfig(loss="kd", alpha=kd.alpha, temperature=kd.temperature))
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))
    history, started = [], time.time()
    tuned.train()
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad()
            loss = loss_fn(fq(xt[idx]), yt[idx], soft[idx], None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tuned.parameters(), 5.0)
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(round(total / len(yt), 5))
    tuned.eval()
    q_new = quantize_student(tuned, x, arch, q.weight_bits, q.method)
    return q_new, tuned, {"epochs": epochs, "lr": lr, "batch_size": batch_size, "loss_per_epoch": history,
                          "alpha": kd.alpha, "temperature": kd.temperature, "seconds": round(time.time() - started, 1)}
