"""Dynamic fixed point for the GRU-MLP student: fractional lengths from calibration statistics
of the float model (one per activation tensor; one per weight row, or per weight tensor), then
integer weights, biases and shifts.

Two ways to pick a length: 'range' (the largest that holds the calibrated maximum) and
'mse' (the one, among that and a few finer ones, with the smallest quantization error).
Per-row weight formats matter because a layer's rows differ in size: with one format per tensor
the largest row sets the step for all of them (on the WASP collars an 8-bit input layer then
loses a resting cow's windows to standing; docs/fixed-point.md, "Weight formats").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from collar_kd.errors import ConfigError, reading
from collar_kd.models import GRUStudent
from collar_kd.quant.formats import frac_for_range, frac_min_error, quantize
from collar_kd.quant.spec import (ACT_MAX, BIAS_LIMIT, CALIBRATIONS, ROUNDINGS, FOLD_SHIFT_MAX, HIDDEN_FRAC, LAYERS, MAX_FAN_IN, ROW_FORMAT_LAYERS,
                                  SHIFT_MAX, WEIGHT_BITS, WEIGHT_FORMATS, gate_shift, weight_max)
from collar_kd.quant.tables import sigmoid_table, tanh_table



def layer_input_frac(frac: dict[str, int]) -> dict[str, int]:
    """Every layer's input format: what its weights multiply (x, a, h, h, y)."""
    return {"inp": frac["x"], "ih": frac["a"], "hh": frac["h"], "fc1": frac["h"], "fc2": frac["y"]}


def layer_output_frac(frac: dict[str, int]) -> dict[str, int]:
    """Every re-quantized layer's output format (fc2's logits keep the accumulator's)."""
    return {"inp": frac["a"], "ih": frac["g"], "hh": frac["g"], "fc1": frac["y"]}


@dataclass
class QuantizedStudent:
    """Everything the integer model needs: integer weights and biases, formats, shifts."""

    weight_bits: int
    hidden: int
    head: int
    classes: list[str]
    sample_rate_hz: float
    window_length: int
    # tensor name -> fractional length (x, a, g, h, y); w_<layer> is the layer's coarsest row format
    frac: dict[str, int]
    weights: dict[str, np.ndarray] = field(repr=False)  # layer -> int64 (rows, cols)
    biases: dict[str, np.ndarray] = field(repr=False)  # layer -> int64 (rows,), each row's accumulator format
    bias_clamped: dict[str, int] = field(default_factory=dict)
    calibration: str = "range"  # how the fractional lengths were chosen (spec.CALIBRATIONS)
    weight_formats: str = "tensor"  # spec.WEIGHT_FORMATS; files written before per-row formats are "tensor"
    row_frac: dict[str, list[int]] = field(default_factory=dict)  # layer -> every row's weight format (omitted: w_<layer>)
    frame: str = "sensor"  # data.frame the student was trained in; "animal": the device turns windows (ckd_frame.h)
    # Layers whose weights have another word length than weight_bits, e.g. {"ih": 16}: the GRU's
    # input matrix in 16 bits, the rest in 8 (method.layer_weight_bits, docs/fixed-point.md).
    layer_bits: dict[str, int] = field(default_factory=dict)
    rounding: str = "nearest"  # spec.ROUNDINGS: how the weights met their grid (files written before: nearest)

    def bits(self, layer: str) -> int:
        """The word length of `layer`'s weights."""
        return self.layer_bits.get(layer, self.weight_bits)

    def weight_frac(self, layer: str) -> np.ndarray:
        """The fractional length of every row of `layer`'s weights (int64, rows)."""
        rows = self.weights[layer].shape[0]
        return np.asarray(self.row_frac.get(layer, [self.frac[f"w_{layer}"]] * rows), dtype=np.int64)

    @property
    def input_frac(self) -> dict[str, int]:
        return layer_input_frac(self.frac)

    @property
    def shifts(self) -> dict[str, np.ndarray]:
        """Every re-quantized layer's shift per output row: f_W[row] + f_in - f_out."""
        fin, out = self.input_frac, layer_output_frac(self.frac)
        return {k: self.weight_frac(k) + fin[k] - out[k] for k in ROW_FORMAT_LAYERS}

    @property
    def gate_shift(self) -> int:
        return gate_shift(self.frac["g"])

    @property
    def logit_frac(self) -> int:
        return self.frac["w_fc2"] + self.frac["y"]

    @property
    def tables(self) -> dict[str, np.ndarray]:
        return {"sigmoid": sigmoid_table(), "tanh": tanh_table()}

    def quantize_input(self, x_g: np.ndarray) -> np.ndarray:
        """Windows in g (float) -> int16 in the input format (the sensor side, not the integer path)."""
        return quantize(x_g, self.frac["x"], ACT_MAX).astype(np.int16)

    def model_id(self) -> str:
        """A hash of everything that defines the integer model; the device can report it."""
        h = hashlib.sha256()
        spec = {"bits": self.weight_bits, "frac": self.frac, "classes": self.classes, "rate": self.sample_rate_hz,
                "T": self.window_length}
        if self.frame != "sensor":  # so that sensor-frame models keep the ids they had
            spec["frame"] = self.frame
        if self.layer_bits:  # likewise for models of one word length
            spec["layer_bits"] = self.layer_bits
        h.update(json.dumps(spec, sort_keys=True).encode())
        for name in ROW_FORMAT_LAYERS:  # a row's format is part of the model (it sets that row's shift)
            h.update(self.weight_frac(name).astype("<i8").tobytes())
        for name in LAYERS:
            h.update(self.weights[name].astype("<i8").tobytes())
            h.update(self.biases[name].astype("<i8").tobytes())
        return h.hexdigest()[:8]

    def save(self, path: Path) -> None:
        arrays = {f"w_{k}": v for k, v in self.weights.items()} | {f"b_{k}": v for k, v in self.biases.items()}
        meta = {k: v for k, v in asdict(self).items() if k not in ("weights", "biases")}
        with open(path, "wb") as fh:
            np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)

    @classmethod
    def load(cls, path: Path) -> "QuantizedStudent":
        with reading(path, "quantized model (.npz)"), np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if "method" in meta:  # exports before the field was named for what it is
                meta["calibration"] = meta.pop("method")
            weights = {k: z[f"w_{k}"].astype(np.int64) for k in LAYERS}
            biases = {k: z[f"b_{k}"].astype(np.int64) for k in LAYERS}
            q = cls(weights=weights, biases=biases, **meta)
        if q.weight_formats not in WEIGHT_FORMATS or set(q.row_frac) - set(ROW_FORMAT_LAYERS) or any(
                len(v) != q.weights[k].shape[0] for k, v in q.row_frac.items()):
            raise ConfigError(f"{path}: the quantized model's weight formats are inconsistent (weight_formats "
                              f"'{q.weight_formats}', row formats for {sorted(q.row_frac)})")
        if set(q.layer_bits) - set(LAYERS) or any(v not in WEIGHT_BITS for v in q.layer_bits.values()):
            raise ConfigError(f"{path}: the quantized model's layer word lengths {q.layer_bits} are not layers of "
                              f"{', '.join(LAYERS)} with one of {', '.join(map(str, WEIGHT_BITS))} bits")
        if q.rounding not in ROUNDINGS:
            raise ConfigError(f"{path}: the quantized model's rounding '{q.rounding}' is not one of {', '.join(ROUNDINGS)}")
        return q


@torch.no_grad()
def calibration_tensors(model: GRUStudent, x: np.ndarray, max_windows: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Values of every activation tensor of the float model on (a sample of) calibration windows."""
    rng = np.random.default_rng(seed)
    if len(x) > max_windows:
        x = x[np.sort(rng.choice(len(x), max_windows, replace=False))]
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    a = torch.relu(model.inp(xt))
    seq, _ = model.gru(a)
    h_prev = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, :-1]], dim=1)
    gi = a @ model.gru.weight_ih_l0.T + model.gru.bias_ih_l0
    gh = h_prev @ model.gru.weight_hh_l0.T + model.gru.bias_hh_l0
    y = torch.relu(model.fc1(seq[:, -1]))
    return {"x": xt.numpy(), "a": a.numpy(), "gi": gi.numpy(), "gh": gh.numpy(), "y": y.numpy(), "h": seq.numpy()}


def second_moment(x: np.ndarray, zero_rows: int = 0, chunk: int = 256) -> np.ndarray:
    """E[v v^T] of v = (x_row, 1) over every row of x (its last axis is the vector; `zero_rows` more
    rows of zeros), in float64, summed `chunk` entries of the first axis at a time (no float64
    copy of a large calibration tensor)."""
    d = x.shape[-1]
    h = np.zeros((d + 1, d + 1))
    n = 0
    for i in range(0, len(x), chunk):
        c = x[i : i + chunk].reshape(-1, d).astype(np.float64)
        h[:d, :d] += c.T @ c
        h[:d, d] += c.sum(axis=0)
        n += len(c)
    h[d, :d] = h[:d, d]
    h[d, d] = n + zero_rows
    return h / max(n + zero_rows, 1)


def layer_second_moments(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """second_moment of what every layer's weights multiply (time steps flattened): x, a, the previous
    state (zero before the first step), the last state, y."""
    return {"inp": second_moment(t["x"]), "ih": second_moment(t["a"]), "hh": second_moment(t["h"][:, :-1], zero_rows=len(t["h"])),
            "fc1": second_moment(t["h"][:, -1]), "fc2": second_moment(t["y"])}


def float_layers(model: GRUStudent) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    g = model.gru
    return {
        "inp": (model.inp.weight, model.inp.bias),
        "ih": (g.weight_ih_l0, g.bias_ih_l0),
        "hh": (g.weight_hh_l0, g.bias_hh_l0),
        "fc1": (model.fc1.weight, model.fc1.bias),
        "fc2": (model.fc2.weight, model.fc2.bias),
    }


def quantize_student(
    model: GRUStudent,
    calib_x: np.ndarray,
    arch: dict,
    weight_bits: int = 8,
    calibration: str = "range",
    weight_formats: str = "row",
    layer_bits: dict[str, int] | None = None,
    rounding: str = "nearest",
) -> QuantizedStudent:
    """The integer model of `model`: formats calibrated on `calib_x`, `weight_bits` weights (a
    layer named in `layer_bits` gets its own word length there), each weight rounded to its nearest
    grid point or `rounding="compensated"` (compensated_rounding). The default here is nearest, so
    that the pilots' committed figures reproduce; a run's default, method.rounding, is compensated."""
    layer_bits = {k: v for k, v in (layer_bits or {}).items() if v != weight_bits}
    for bits in (weight_bits, *layer_bits.values()):
        if bits not in WEIGHT_BITS:
            raise ConfigError(f"weight_bits: the fixed-point back end supports {WEIGHT_BITS}, not {bits}")
    if set(layer_bits) - set(LAYERS):
        raise ConfigError(f"layer_bits: {sorted(set(layer_bits) - set(LAYERS))} are not layers of the student ({', '.join(LAYERS)})")
    if rounding not in ROUNDINGS:
        raise ConfigError(f"rounding: must be one of {', '.join(ROUNDINGS)}, not '{rounding}'")
    if calibration not in CALIBRATIONS:
        raise ConfigError(f"calibration: must be one of {', '.join(CALIBRATIONS)}, not '{calibration}'")
    if weight_formats not in WEIGHT_FORMATS:
        raise ConfigError(f"weight_formats: must be one of {', '.join(WEIGHT_FORMATS)}, not '{weight_formats}'")
    if max(model.hidden, model.head) > MAX_FAN_IN:
        raise ConfigError(f"student: a fan-in above {MAX_FAN_IN} could overflow 32-bit accumulators (docs/fixed-point.md)")
    pick = (lambda v, lim: frac_min_error(v, lim)) if calibration == "mse" else (lambda v, lim: frac_for_range(float(np.abs(v).max()), lim))
    t = calibration_tensors(model, calib_x)
    frac = {"x": pick(t["x"], ACT_MAX), "a": pick(t["a"], ACT_MAX), "h": HIDDEN_FRAC, "y": pick(t["y"], ACT_MAX)}
    frac["g"] = min(pick(t["gi"], ACT_MAX), pick(t["gh"], ACT_MAX))  # one format so they add directly
    in_frac, out_frac = layer_input_frac(frac), layer_output_frac(frac)
    moments = layer_second_moments(t) if rounding == "compensated" else {}
    weights, biases, clamped, row_frac = {}, {}, {}, {}
    for name, (w, b) in float_layers(model).items():
        bits = layer_bits.get(name, weight_bits)
        wmax, limit = weight_max(bits), BIAS_LIMIT[bits]
        w = w.detach().numpy().astype(np.float64)
        b = b.detach().numpy().astype(np.float64)
        base = pick(w, wmax)
        rows = np.full(len(w), base, dtype=np.int64)
        if weight_formats == "row" and name in ROW_FORMAT_LAYERS:
            # The largest shift a row may take: inside the folded range for 8-bit weights (one shift
            # instruction on the device), inside the 64-bit rule otherwise.
            top = (FOLD_SHIFT_MAX if bits <= 8 else SHIFT_MAX) - in_frac[name] + out_frac[name]
            rows = np.array([row_format(wr, br, base, top, in_frac[name], wmax, limit, pick) for wr, br in zip(w, b)])
            row_frac[name] = [int(v) for v in rows]
        frac[f"w_{name}"] = int(rows.min())
        moved = 0
        if rounding == "compensated":
            w, b, moved = compensated_rounding(w, b, rows, in_frac[name], bits, moments[name])
        weights[name], biases[name], clamped[name] = integer_layer(w, b, rows, in_frac[name], bits)
        clamped[name] += moved
    return QuantizedStudent(
        weight_bits=weight_bits, hidden=model.hidden, head=model.head, classes=list(arch["classes"]),
        sample_rate_hz=float(arch["sample_rate_hz"]), window_length=int(arch["window_length"]),
        frac=frac, weights=weights, biases=biases, bias_clamped={k: v for k, v in clamped.items() if v}, calibration=calibration,
        weight_formats=weight_formats, row_frac=row_frac, frame=str(arch.get("frame", "sensor")), layer_bits=layer_bits,
        rounding=rounding,
    )


def integer_layer(w: np.ndarray, b: np.ndarray, rows: np.ndarray, f_in: int,
                  weight_bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A dense layer's float weights and biases in integers: row i's weights in Q(rows[i]), its bias
    in Q(rows[i] + f_in) (the accumulator's format), rounded half up and saturated; also how many
    biases the accumulator's limit clamped."""
    limit = BIAS_LIMIT[weight_bits]
    raw = np.floor(b * 2.0 ** (rows + f_in) + 0.5)
    return (quantize(w * 2.0 ** rows[:, None], 0, weight_max(weight_bits)), np.clip(raw, -limit, limit).astype(np.int64),
            int((np.abs(raw) > limit).sum()))


def compensated_rounding(w: np.ndarray, b: np.ndarray, rows: np.ndarray, f_in: int, bits: int,
                         moment: np.ndarray, damp: float = 0.01) -> tuple[np.ndarray, np.ndarray, int]:
    """Weights and bias moved onto their grids one column at a time, each column's rounding error
    pushed onto the columns not yet rounded in the way that least changes the layer's outputs on
    the calibration inputs (GPTQ, Frantar et al. 2023, with the bias as a last column of constant
    input 1: it takes up the mean of what is left, on its far finer grid). `moment`: the inputs'
    second_moment (with the constant 1); 1 % of its mean diagonal is added for a stable inverse.

    Returns float weights and bias that lie on the grids (integer_layer then rounds them exactly),
    and how many biases the accumulator's limit clamped."""
    cols = w.shape[1]
    h = moment + damp * float(np.mean(np.diag(moment))) * np.eye(cols + 1)
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper: u.T @ u = inverse of h
    step = np.hstack([np.repeat(2.0 ** -rows[:, None], cols, 1), 2.0 ** -(rows[:, None] + f_in)])
    limit = np.hstack([np.full(cols, weight_max(bits)), [BIAS_LIMIT[bits]]]).astype(np.float64)
    wb = np.hstack([w, b[:, None]]).astype(np.float64)
    clamped = 0
    for j in range(cols + 1):
        raw = np.floor(wb[:, j] / step[:, j] + 0.5)
        if j == cols:  # bias_clamped counts biases only; a weight pushed past its range is clipped like them
            clamped = int((np.abs(raw) > limit[j]).sum())
        q = np.clip(raw, -limit[j], limit[j]) * step[:, j]
        err = (wb[:, j] - q) / u[j, j]
        wb[:, j:] -= np.outer(err, u[j, j:])
        wb[:, j] = q
    return wb[:, :cols], wb[:, cols], clamped


def row_format(w: np.ndarray, b: float, base: int, top: int, f_in: int, wmax: int, limit: int, pick) -> int:
    """One row's weight format: what calibration picks for the row alone, never coarser than the
    tensor's (`base`), no finer than keeps its shift at or below `top` and its bias inside the
    accumulator's limit (a row of tiny weights with a large bias keeps a coarser format)."""
    f = min(pick(w, wmax), top)
    if b != 0:
        f = min(f, int(np.floor(np.log2(limit / abs(b)))) - f_in)
    return max(f, base)
