"""The quantizer and simulator against the float student."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from collar_kd.errors import ConfigError
from collar_kd.models import GRUStudent
from collar_kd.quant.formats import frac_for_range, frac_min_error, quantize
from collar_kd.quant.quantizer import QuantizedStudent, quantize_student
from collar_kd.sim import FixedPointSimulator, Stream
from collar_kd.training.loop import predict_logits

ARCH = {"classes": ["a", "b", "c", "d"], "sample_rate_hz": 25.0, "window_length": 40}


@pytest.fixture(scope="module")
def model_and_windows():
    torch.manual_seed(0)
    m = GRUStudent(4, hidden=16, head=8).eval()
    rng = np.random.default_rng(0)
    t = np.arange(40) / 25.0
    x = np.stack([np.stack([0.3 * np.sin(2 * np.pi * f * t + p), 0.2 * np.cos(2 * np.pi * f * t), np.full(40, 1.0)], 1)
                  for f, p in zip(rng.uniform(0.2, 3, 300), rng.uniform(0, 6, 300))]).astype(np.float32)
    x += rng.normal(0, 0.05, x.shape).astype(np.float32)
    return m, x


def test_range_fraction_rule():
    assert frac_for_range(1.0, 32767) == 14  # 1.0 * 2^15 = 32768 would overflow
    assert frac_for_range(0.99, 32767) == 15
    assert frac_for_range(3.9, 127) == 5
    assert frac_for_range(0.0, 127) == 6
    v = np.concatenate([np.random.default_rng(0).normal(0, 0.1, 10000), [5.0]])  # one outlier
    assert frac_min_error(v, 127) > frac_for_range(5.0, 127)  # clipping the outlier pays off
    assert quantize(np.array([0.5, -0.5, 100.0]), 4, 127).tolist() == [8, -8, 127]


@pytest.mark.parametrize("bits", [8, 16])
def test_simulator_agrees_with_float_model(model_and_windows, bits):
    m, x = model_and_windows
    q = quantize_student(m, x, ARCH, weight_bits=bits)
    sim = FixedPointSimulator(q).run(q.quantize_input(x))
    ref = predict_logits(m, x)
    err = np.abs(sim.logits * 2.0**-q.logit_frac - ref)
    scale = np.abs(ref).max()
    # Documented tolerance: 8-bit weights keep logits within 5 % of the logit range, 16-bit within 0.5 %.
    assert err.max() < (0.05 if bits == 8 else 0.005) * scale, err.max()
    assert (sim.classes == ref.argmax(1)).mean() >= (0.95 if bits == 8 else 0.99)
    assert np.abs(sim.h).max() <= 32767


def test_sixteen_bits_is_closer_than_eight(model_and_windows):
    m, x = model_and_windows
    ref = predict_logits(m, x)
    errs = []
    for bits in (8, 16):
        q = quantize_student(m, x, ARCH, weight_bits=bits)
        errs.append(np.abs(FixedPointSimulator(q).run(q.quantize_input(x)).logits * 2.0**-q.logit_frac - ref).mean())
    assert errs[1] < errs[0] / 4


def test_streaming_equals_batch_and_trace_is_complete(model_and_windows):
    m, x = model_and_windows
    q = quantize_student(m, x, ARCH)
    xq = q.quantize_input(x[:5])
    res = FixedPointSimulator(q).run(xq, trace=True)
    s = Stream(q, batch=1)
    for w in range(5):
        s.reset()
        for t in range(40):
            s.step(xq[w : w + 1, t])
        logits, cls, _ = s.classify()
        assert np.array_equal(logits[0], res.logits[w]) and cls[0] == res.classes[w]
    assert res.trace["gi"].shape == (5, 40, 48) and res.trace["h"].shape == (5, 40, 16)
    assert np.array_equal(res.trace["h"][:, -1], res.h)


def test_argmax_ties_go_to_the_lowest_index(model_and_windows):
    m, x = model_and_windows
    q = quantize_student(m, x, ARCH)
    q.weights["fc2"][:] = 0
    q.biases["fc2"][:] = [3, 7, 7, 1]
    assert set(FixedPointSimulator(q).run(q.quantize_input(x[:4])).classes.tolist()) == {1}


def test_save_load_round_trip_and_model_id(model_and_windows, tmp_path):
    m, x = model_and_windows
    q = quantize_student(m, x, ARCH, calibration="mse")
    q.save(tmp_path / "q.npz")
    back = QuantizedStudent.load(tmp_path / "q.npz")
    assert back.model_id() == q.model_id() and back.frac == q.frac and back.calibration == "mse"
    back.weights["hh"][0, 0] += 1
    assert back.model_id() != q.model_id()


def test_rejects_unsupported_settings(model_and_windows):
    m, x = model_and_windows
    for bits in (1, 9, 12, 32):
        with pytest.raises(ConfigError, match="weight_bits"):
            quantize_student(m, x, ARCH, weight_bits=bits)
    with pytest.raises(ConfigError, match="calibration"):
        quantize_student(m, x, ARCH, calibration="kl")


def test_fake_quant_graph_tracks_the_integer_model(model_and_windows):
    """QAT's fake-quantized forward follows the integer semantics closely (it is float, so not
    bit-exact: roundings of intermediate sums may fall differently)."""
    from collar_kd.quant.qat import FakeQuantStudent

    m, x = model_and_windows
    q = quantize_student(m, x, ARCH)
    with torch.no_grad():
        fq = FakeQuantStudent(m, q)(torch.from_numpy(x[:50])).numpy()
    sim = FixedPointSimulator(q).run(q.quantize_input(x[:50])).logits * 2.0**-q.logit_frac
    assert np.abs(fq - sim).max() < 0.02 * np.abs(sim).max() + 1e-3
    assert (fq.argmax(1) == sim.argmax(1)).mean() >= 0.96


def test_qat_fine_tuning_changes_weights_and_keeps_formats(model_and_windows):
    from collar_kd.config import KDConfig
    from collar_kd.models import ResNetTeacher
    from collar_kd.distill.losses import make_loss
    from collar_kd.distill.targets import cached_targets
    from collar_kd.quant.qat import qat_finetune
    from collar_kd.training.loop import predict_logits

    m, x = model_and_windows
    y = (x[:, :, 0].std(axis=1) > np.median(x[:, :, 0].std(axis=1))).astype(np.int64)
    torch.manual_seed(1)
    teacher = ResNetTeacher(4, [4, 4, 4]).eval()
    q = quantize_student(m, x, ARCH)
    q2, tuned, report = qat_finetune(m, q, x[:64], y[:64], cached_targets(predict_logits(teacher, x[:64])), make_loss(KDConfig()),
                                     epochs=1, seed=0, batch_size=32)
    assert report["epochs"] == 1 and len(report["loss_per_epoch"]) == 1
    assert any(not np.array_equal(q2.weights[k], q.weights[k]) for k in q.weights)
    assert not torch.equal(tuned.gru.weight_hh_l0, m.gru.weight_hh_l0)  # the original student is untouched


@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_low_bit_weights_in_quantizer_and_simulator(model_and_windows, bits, tmp_path):
    """2..7-bit weights: integer levels within +-(2^(bits-1) - 1) (2 bits: ternary), run by the
    simulator on the 8-bit integer path and tracked by the fake-quantized graph."""
    from collar_kd.quant.qat import FakeQuantStudent

    m, x = model_and_windows
    q = quantize_student(m, x, ARCH, weight_bits=bits, calibration="mse")
    top = 2 ** (bits - 1) - 1
    for name, w in q.weights.items():
        assert np.abs(w).max() <= top, name
    if bits == 2:
        assert set(np.unique(np.concatenate([w.ravel() for w in q.weights.values()]))) <= {-1, 0, 1}
    sim = FixedPointSimulator(q).run(q.quantize_input(x[:50]))
    with torch.no_grad():
        fq = FakeQuantStudent(m, q)(torch.from_numpy(x[:50])).numpy()
    real = sim.logits * 2.0**-q.logit_frac
    assert np.abs(fq - real).max() < 0.02 * np.abs(real).max() + 1e-3
    q.save(tmp_path / "q.npz")
    q2 = QuantizedStudent.load(tmp_path / "q.npz")
    assert q2.weight_bits == bits and q2.model_id() == q.model_id()


def test_fewer_weight_bits_lose_more(model_and_windows):
    m, x = model_and_windows
    ref = predict_logits(m, x[:100])
    err = {}
    for bits in (2, 4, 8):
        q = quantize_student(m, x, ARCH, weight_bits=bits, calibration="mse")
        err[bits] = np.abs(FixedPointSimulator(q).run(q.quantize_input(x[:100])).logits * 2.0**-q.logit_frac - ref).mean()
    assert err[2] > err[4] > err[8]



def _uneven_rows(m: GRUStudent) -> GRUStudent:
    """A copy of `m` whose input-gate rows differ in size by up to 2^-5, as trained GRUs' rows do."""
    u = GRUStudent(4, hidden=16, head=8).eval()
    u.load_state_dict(m.state_dict())
    with torch.no_grad():
        rows = u.gru.weight_ih_l0.shape[0]
        u.gru.weight_ih_l0.mul_(torch.pow(2.0, -torch.arange(rows, dtype=torch.float32) % 6)[:, None])
        u.inp.weight[0].mul_(1 / 16)
    return u


def test_row_formats_give_every_row_its_own_step(model_and_windows):
    """Per-row formats: each row of a re-quantized layer takes the range rule's format for its own
    largest weight, never coarser than the tensor's; the logits' rows share one format; the shifts
    follow from the row formats; "tensor" is the old rule, one format per layer."""
    m, x = model_and_windows
    u = _uneven_rows(m)
    row = quantize_student(u, x, ARCH, weight_formats="row")
    tensor = quantize_student(u, x, ARCH, weight_formats="tensor")
    assert row.weight_formats == "row" and tensor.weight_formats == "tensor" and not tensor.row_frac
    w = u.gru.weight_ih_l0.detach().numpy().astype(np.float64)
    expected = [frac_for_range(float(np.abs(r).max()), 127) for r in w]
    assert row.weight_frac("ih").tolist() == expected and len(set(expected)) > 3
    assert row.weight_frac("inp")[0] >= row.frac["w_inp"] + 4  # the row shrunk 16-fold gets 4 more bits
    assert row.frac["w_ih"] == tensor.frac["w_ih"] == min(expected)
    assert np.array_equal(tensor.weights["ih"], quantize(w, tensor.frac["w_ih"], 127))  # the per-tensor rule unchanged
    assert np.abs(row.weights["ih"]).max(axis=1).min() >= 64  # every row uses its top bit
    assert len(set(row.weight_frac("fc2").tolist())) == 1 and "fc2" not in row.row_frac
    fin = {"ih": row.frac["a"], "hh": row.frac["h"]}
    for layer in ("ih", "hh"):
        assert np.array_equal(row.shifts[layer], row.weight_frac(layer) + fin[layer] - row.frac["g"])
    assert all(((1 <= s) & (s <= 31)).all() for s in row.shifts.values())  # 8-bit: all in the folded range


def test_row_formats_bring_the_integer_model_closer_to_the_float_one(model_and_windows):
    m, x = model_and_windows
    u = _uneven_rows(m)
    ref = predict_logits(u, x)
    err = {}
    for formats in ("row", "tensor"):
        q = quantize_student(u, x, ARCH, weight_formats=formats)
        err[formats] = np.abs(FixedPointSimulator(q).run(q.quantize_input(x)).logits * 2.0**-q.logit_frac - ref).mean()
    assert err["row"] < 0.7 * err["tensor"], err


def test_a_row_with_a_large_bias_keeps_a_coarser_format(model_and_windows):
    """A row of tiny weights would take a very fine format, but its bias must still fit the
    accumulator (+-2^29 for 8 bits): the row's format stops where the bias would be clamped."""
    m, x = model_and_windows
    u = _uneven_rows(m)
    with torch.no_grad():
        u.inp.weight[1] = 1e-4
        u.inp.bias[1] = 3.0
    q = quantize_student(u, x, ARCH, weight_formats="row")
    f = int(q.weight_frac("inp")[1])
    assert f < frac_for_range(1e-4, 127) and not q.bias_clamped
    assert abs(int(q.biases["inp"][1])) <= 2**29 and abs(int(q.biases["inp"][1]) * 2.0 ** -(f + q.frac["x"]) - 3.0) < 1e-3


def test_row_formats_survive_save_and_load_and_older_files_load_as_tensor(model_and_windows, tmp_path):
    import json as _json

    m, x = model_and_windows
    q = quantize_student(_uneven_rows(m), x, ARCH)
    q.save(tmp_path / "q.npz")
    back = QuantizedStudent.load(tmp_path / "q.npz")
    assert back.row_frac == q.row_frac and back.model_id() == q.model_id()
    back.row_frac["ih"] = [v + 1 for v in back.row_frac["ih"]]
    assert back.model_id() != q.model_id()  # a row's format is part of the model
    t = quantize_student(m, x, ARCH, weight_formats="tensor")
    with np.load(tmp_path / "q.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
    meta = {k: v for k, v in _json.loads(bytes(np.load(tmp_path / "q.npz")["meta"]).decode()).items()
            if k not in ("weight_formats", "row_frac")}
    meta["frac"] = t.frac
    arrays |= {f"w_{k}": v for k, v in t.weights.items()} | {f"b_{k}": v for k, v in t.biases.items()}
    np.savez(tmp_path / "old.npz", meta=np.frombuffer(_json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    old = QuantizedStudent.load(tmp_path / "old.npz")
    assert old.weight_formats == "tensor" and old.weight_frac("ih").tolist() == [t.frac["w_ih"]] * 48
    assert np.array_equal(FixedPointSimulator(old).run(old.quantize_input(x[:20])).logits,
                          FixedPointSimulator(t).run(t.quantize_input(x[:20])).logits)


def test_rq_with_a_shift_per_row_is_the_scalar_rule_row_by_row():
    from collar_kd.sim.kernels import rq

    rng = np.random.default_rng(5)
    v = rng.integers(-(2**31), 2**31, size=(7, 9))
    s = rng.integers(-15, 32, size=9)
    s[:3] = [0, 1, -1]
    got = rq(v, s)
    for j in range(9):
        assert np.array_equal(got[:, j], rq(v[:, j], int(s[j]))), j


def test_rejects_unknown_weight_formats(model_and_windows):
    m, x = model_and_windows
    with pytest.raises(ConfigError, match="weight_formats"):
        quantize_student(m, x, ARCH, weight_formats="channel")


def test_a_wider_recurrent_matrix_only_changes_that_layer(model_and_windows, tmp_path):
    """layer_bits={"hh": 16}: the recurrent matrix in 16-bit formats (finer by 8 bits, values beyond
    int8), every other layer exactly as in the all-8-bit model; the model is closer to the float
    one, its id differs, and save/load keeps the widths."""
    m, x = model_and_windows
    q8 = quantize_student(m, x, ARCH)
    mix = quantize_student(m, x, ARCH, layer_bits={"hh": 16})
    assert mix.bits("hh") == 16 and mix.bits("ih") == 8 and mix.layer_bits == {"hh": 16}
    assert np.abs(mix.weights["hh"]).max() > 127 and np.abs(mix.weights["hh"]).max() <= 32767
    assert (mix.weight_frac("hh") > q8.weight_frac("hh")).all()
    for name in ("inp", "ih", "fc1", "fc2"):
        assert np.array_equal(mix.weights[name], q8.weights[name]) and np.array_equal(mix.biases[name], q8.biases[name])
    # The recurrent pre-activations, given the integer model's own state, are far closer to the float layer's.
    w, b = m.gru.weight_hh_l0.detach().numpy(), m.gru.bias_hh_l0.detach().numpy()
    err = {}
    for k, q in (("8", q8), ("mix", mix)):
        tr = FixedPointSimulator(q).run(q.quantize_input(x[:50]), trace=True).trace
        h_prev = np.concatenate([np.zeros_like(tr["h"][:, :1]), tr["h"][:, :-1]], axis=1) * 2.0**-15
        err[k] = np.abs(tr["gh"] * 2.0 ** -q.frac["g"] - (h_prev @ w.T + b)).mean()
    assert err["mix"] < err["8"] / 4, err
    assert mix.model_id() != q8.model_id()
    assert quantize_student(m, x, ARCH, layer_bits={"hh": 8}).model_id() == q8.model_id()  # the same width is no change
    mix.save(tmp_path / "mix.npz")
    back = QuantizedStudent.load(tmp_path / "mix.npz")
    assert back.layer_bits == {"hh": 16} and back.model_id() == mix.model_id()


def test_rejects_unknown_layers_and_widths(model_and_windows):
    m, x = model_and_windows
    with pytest.raises(ConfigError, match="layer_bits: \\['lstm'\\]"):
        quantize_student(m, x, ARCH, layer_bits={"lstm": 16})
    with pytest.raises(ConfigError, match="weight_bits"):
        quantize_student(m, x, ARCH, layer_bits={"hh": 12})


def test_compensated_rounding_by_hand():
    """Two inputs that are always equal, weights 0.4 and 0.4 on a grid of 0.25: nearest rounding
    gives 0.5 + 0.5 (the output 0.2 u too high); compensated rounding gives the second weight the
    first one's error (0.4 - 0.1 -> 0.25, the sum now 0.05 u too low) and the bias what is left on
    average (+0.05 E[u])."""
    from collar_kd.quant.quantizer import compensated_rounding, second_moment

    u = np.random.default_rng(0).uniform(0.5, 1.5, 2000)
    x = np.stack([u, u], 1)
    w, b, rows = np.array([[0.4, 0.4]]), np.array([0.0]), np.array([2])
    wq, bq, clamped = compensated_rounding(w, b, rows, 8, 8, second_moment(x))
    assert clamped == 0
    assert wq.tolist() == [[0.5, 0.25]]
    assert abs(bq[0] - 0.05 * u.mean()) < 2**-9  # the bias's own grid: 2^-(2 + 8)
    assert bq[0] * 2**10 == round(bq[0] * 2**10)  # on that grid
    out = lambda ww, bb: x @ ww.T + bb  # noqa: E731
    nearest = np.sqrt(np.mean((out(np.array([[0.5, 0.5]]), 0.0) - out(w, b)) ** 2))
    compensated = np.sqrt(np.mean((out(wq, bq) - out(w, b)) ** 2))
    assert compensated < nearest / 10, (compensated, nearest)


def test_compensated_rounding_keeps_every_limit_and_brings_the_model_closer(model_and_windows, tmp_path):
    """Every layer's integers stay inside their word length and bias limit, the formats are those of
    nearest rounding (rounding changes which grid point, never the grid), every layer's outputs on
    the calibration windows are closer to the float layer's, and so are the logits."""
    from collar_kd.quant.quantizer import calibration_tensors, float_layers, layer_second_moments
    from collar_kd.quant.spec import BIAS_LIMIT

    m, x = model_and_windows
    near = quantize_student(m, x, ARCH, rounding="nearest")
    comp = quantize_student(m, x, ARCH, rounding="compensated")
    assert comp.frac == near.frac and comp.row_frac == near.row_frac and comp.rounding == "compensated"
    t = calibration_tensors(m, x)
    moments = layer_second_moments(t)
    h_prev = np.concatenate([np.zeros_like(t["h"][:, :1]), t["h"][:, :-1]], axis=1).reshape(-1, t["h"].shape[-1])
    v = np.hstack([h_prev.astype(np.float64), np.ones((len(h_prev), 1))])
    assert np.allclose(moments["hh"], v.T @ v / len(v))  # the recurrent matrix's inputs: the state before each step
    for name, (w, b) in float_layers(m).items():
        assert np.abs(comp.weights[name]).max() <= 127 and np.abs(comp.biases[name]).max() <= BIAS_LIMIT[8]
        assert not (np.array_equal(comp.weights[name], near.weights[name]) and np.array_equal(comp.biases[name], near.biases[name]))
        err = {}
        for k, q in (("near", near), ("comp", comp)):
            step = 2.0 ** -q.weight_frac(name).astype(np.float64)
            # the integer layer minus the float one, weights and bias: its mean squared output error
            # on the calibration inputs is d^T E[v v^T] d per row, v the input with its constant 1
            d = np.hstack([q.weights[name] * step[:, None] - w.detach().numpy(),
                           (q.biases[name] * step * 2.0 ** -q.input_frac[name] - b.detach().numpy())[:, None]])
            err[k] = float(np.einsum("ri,ij,rj->", d, moments[name], d)) / len(d)
        assert err["comp"] < err["near"], (name, err)
    ref = predict_logits(m, x)
    logit_err = {k: np.mean((FixedPointSimulator(q).run(q.quantize_input(x)).logits * 2.0**-q.logit_frac - ref) ** 2)
                 for k, q in (("near", near), ("comp", comp))}
    assert logit_err["comp"] < logit_err["near"], logit_err
    comp.save(tmp_path / "c.npz")
    assert QuantizedStudent.load(tmp_path / "c.npz").rounding == "compensated"


def test_rejects_unknown_rounding(model_and_windows):
    m, x = model_and_windows
    with pytest.raises(ConfigError, match="rounding: must be one of nearest, compensated, not 'stochastic'"):
        quantize_student(m, x, ARCH, rounding="stochastic")
