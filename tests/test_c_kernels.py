"""Each C kernel against the simulator on edge values, with the same data on every target: the C
compiled on the host and driven through ctypes (emlearn-style), and the device builds under QEMU
(the Cortex-M4's SMLAD path and the Cortex-M3's portable C) replaying the same calls. Any
difference names the first element."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from collar_kd.export.layout import BiasFoldOverflow, block_layout_s8, fold_rounding, folds
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.quant.spec import GATE_IN_FRAC
from collar_kd.quant.tables import sigmoid_table, tanh_table
from collar_kd.sim import FixedPointSimulator
from collar_kd.sim.kernels import act_lookup, fc, gru_step, matvec_acc, rq, sat16
from collar_kd.export import vectors
from collar_kd.verify.host_lib import HostC
from collar_kd.verify.target_shim import Misaligned, ShimBatch, TargetShim

EDGE16 = np.array([32767, -32767, 0, 1, -1, 16384, -16384, 32766, -32766, 12345], dtype=np.int64)


def assert_same(c: np.ndarray, sim: np.ndarray, what: str) -> None:
    c, sim = np.asarray(c, np.int64), np.asarray(sim, np.int64)
    diff = np.nonzero(c.ravel() != sim.ravel())[0]
    assert not len(diff), f"{what}: first difference at element {diff[0]}: C {c.ravel()[diff[0]]} vs simulator {sim.ravel()[diff[0]]}"


@pytest.fixture(scope="module")
def host(tiny_export, tmp_path_factory) -> HostC:
    return HostC(tiny_export, tmp_path_factory.mktemp("hostlib"))


HAVE_QEMU = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))
# The host build (portable C, ASan-free -O2 shared library), the ear tag's Cortex-M4 with the SMLAD
# path and the collar's Cortex-M3 (portable C), the last two under QEMU.
TARGETS = ["host", "eartag-m4-dsp", "collar-m3"]


@pytest.fixture(scope="module", params=TARGETS)
def run_batch(request, host, tiny_export, tmp_path_factory):
    """A function that runs a ShimBatch on one target and returns its results."""
    if request.param == "host":
        return lambda batch: batch.run_host(host)
    if not HAVE_QEMU:
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm not installed (make toolchain)")
    device = {"eartag-m4-dsp": "eartag", "collar-m3": "collar"}[request.param]
    shim = TargetShim(tiny_export, device, tmp_path_factory.mktemp(f"shim-{request.param}"))
    return shim.run


def row_shifts(shift, rows: int) -> np.ndarray:
    """One shift for every row (the C takes a shift per row)."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(shift), (rows,)), dtype=np.int8)


def fc_s8_args(w, bias, x, shift, relu, w_offset=0, x_offset=0):
    """shim_fc_s8's arguments as the exporter would store the layer (block order, folded bias,
    a shift per row and the folded flag)."""
    rows, cols = w.shape
    stored = block_layout_s8(np.asarray(w, np.int8))
    shifts = row_shifts(shift, rows)
    folded = folds(shifts, 8)
    b_out = fold_rounding(w, bias, shifts) if folded else np.asarray(bias, np.int64)
    xin = np.asarray(x, np.int16)
    return (Misaligned(stored, w_offset) if w_offset else stored, b_out.astype(np.int32), np.asarray(bias, np.int32),
            rows, cols, shifts, int(folded), int(relu), Misaligned(xin, x_offset) if x_offset else xin,
            np.zeros(rows, np.int16), np.zeros(rows, np.int32))


def fc_cases(rng, rows, cols, wmax=127):
    """(w, x) pairs: every product at its extreme (the accumulator bound), edge values, random."""
    yield np.full((rows, cols), wmax) * rng.choice([-1, 1], size=(rows, 1)), np.full(cols, 32767)
    yield rng.integers(-wmax, wmax + 1, size=(rows, cols)), rng.choice(EDGE16, size=cols)
    yield rng.integers(-wmax, wmax + 1, size=(rows, cols)), rng.integers(-32767, 32768, size=cols)


def test_fc_s8_matches_simulator_on_edge_values(run_batch):
    """Blocks of four rows and the rows after them, the input layer's 3 columns, the GRU's 32, a
    remainder of groups (36), fan-in 256, every kind of shift (folded, unfolded, at the fold's
    limits; one for all rows, or a different one per row, all folded or some not), ReLU or not,
    and weights or inputs off their word boundary (the general path)."""
    rng = np.random.default_rng(3)
    batch, expected, refused = ShimBatch(), [], 0
    for rows in (4, 5, 8, 13):
        for cols in (1, 3, 4, 7, 32, 36, 64, 256):
            for w, x in fc_cases(rng, rows, cols):
                bias = rng.integers(-(2**29), 2**29, size=rows)
                per_row = [rng.integers(1, 32, size=rows), rng.integers(-3, 32, size=rows)]  # all folded / mixed
                for shift in (-3, 0, 1, 9, 22, 30, 31, *per_row):
                    relu = bool(rng.integers(2))
                    offsets = [(0, 0)] + ([(1, 0), (3, 2)] if np.ndim(shift) == 0 and shift == 9 else [])
                    for w_off, x_off in offsets:
                        try:
                            args = fc_s8_args(w, bias, x, shift, relu, w_off, x_off)
                        except BiasFoldOverflow:
                            refused += 1  # the exporter refuses such a layer; nothing to run
                            continue
                        batch.add("shim_fc_s8", *args)
                        sim = fc(w, bias, x[None, :], shift, relu)[0]
                        acc = np.clip(matvec_acc(w, bias, x[None, :])[0], -(2**31 - 1), 2**31 - 1)
                        what = f"rows={rows} cols={cols} shift={np.asarray(shift).tolist()} relu={relu} offsets={w_off},{x_off}"
                        expected.append((what, sim, acc))
    assert refused and len(expected) > 20 * refused  # the bound bites only at the extremes
    for (what, sim, acc), got in zip(expected, run_batch(batch)):
        assert_same(got[-2], sim, f"fc_s8 {what}")
        assert_same(got[-1], acc, f"fc_s8 accumulators {what}")


def test_fc_s8_exact_at_the_folded_int32_bound(run_batch):
    """The largest bias the exporter accepts after folding: bias + 2^(s-1) + 256 * 127 * 32767 ==
    INT32_MAX exactly, and every product at its extreme. One more and it is refused."""
    rows, cols, shift = 4, 256, 30
    w, x = np.full((rows, cols), 127), np.full(cols, 32767)
    top = 2**31 - 1 - 2 ** (shift - 1) - cols * 127 * 32767
    bias = np.array([top, top - 1, -top, 0])
    batch = ShimBatch()
    batch.add("shim_fc_s8", *fc_s8_args(w, bias, x, shift, False))
    got = run_batch(batch)[0]
    assert_same(got[-2], fc(w, bias, x[None, :], shift, False)[0], "fc_s8 at the bound")
    with pytest.raises(BiasFoldOverflow, match="row 0"):
        fold_rounding(w, bias + np.array([1, 0, 0, 0]), shift, "fc")


def test_fc_s16_matches_simulator_on_edge_values(run_batch):
    """Pairs of rows and the row after them (4 and 5 rows), the input layer's 3 columns, the GRU's 32,
    column counts that are no multiple of four (the row loop), fan-in 256 with every product at its
    extreme (64-bit sums past 2^31), every kind of shift, ReLU or not, and weights or inputs off
    their word boundary (the row loop on the M4)."""
    rng = np.random.default_rng(16)
    batch, expected = ShimBatch(), []
    for rows in (4, 5):
        for cols in (1, 3, 4, 7, 32, 36, 256):
            for w, x in fc_cases(rng, rows, cols, wmax=32767):
                bias = rng.integers(-(2**31 - 1), 2**31 - 1, size=rows)
                # 1..31 take the kernel's 32-bit rounding (31: the high word alone), the rest the 64-bit rule
                for shift in (-3, 0, 1, 9, 22, 31, 32, 40, rng.integers(-3, 23, size=rows), rng.integers(-15, 48, size=rows)):
                    for relu in (False, True):
                        offsets = [(0, 0)] + ([(2, 0), (0, 2)] if np.ndim(shift) == 0 and shift == 9 and not relu else [])
                        for w_off, x_off in offsets:
                            wq, xq = np.asarray(w, np.int16).ravel(), np.asarray(x, np.int16)
                            batch.add("shim_fc_s16", Misaligned(wq, w_off) if w_off else wq, np.asarray(bias, np.int32), rows,
                                      cols, row_shifts(shift, rows), int(relu), Misaligned(xq, x_off) if x_off else xq,
                                      np.zeros(rows, np.int16), np.zeros(rows, np.int32))
                            acc = np.clip(matvec_acc(w, bias, x[None, :])[0], -(2**31 - 1), 2**31 - 1)
                            what = f"rows={rows} cols={cols} shift={np.asarray(shift).tolist()} relu={relu} offsets={w_off},{x_off}"
                            expected.append((what, fc(w, bias, x[None, :], shift, relu)[0], acc))
    for (what, sim, acc), got in zip(expected, run_batch(batch)):
        assert_same(got[-2], sim, f"fc_s16 {what}")
        assert_same(got[-1], acc, f"fc_s16 accumulators {what}")


@pytest.mark.parametrize("table", ["sigmoid", "tanh"])
def test_activation_over_every_int16_input(run_batch, table):
    t = (sigmoid_table() if table == "sigmoid" else tanh_table()).astype(np.int16)
    x = np.arange(-32768, 32768, dtype=np.int16)
    batch = ShimBatch()
    for chunk in np.split(x, 64):
        batch.add("shim_act", chunk, np.zeros_like(chunk), len(chunk), t)
    got = np.concatenate([r[1] for r in run_batch(batch)])
    assert_same(got, act_lookup(x.astype(np.int64), t), table)


def test_gru_update_matches_simulator_on_edge_values(run_batch):
    """Edge and random values, and gate shifts across the whole accepted range: negative (a
    multiplication), small, and large enough that every gate input rounds to 0."""
    rng = np.random.default_rng(7)
    hidden = 6
    batch, expected = ShimBatch(), []
    for trial in range(240):
        pool = EDGE16 if trial % 2 else np.arange(-32767, 32768)
        gi, gh = rng.choice(pool, size=3 * hidden), rng.choice(pool, size=3 * hidden)
        h = rng.choice(pool, size=hidden)
        gate_shift = [-15, -7, 0, 1, 3, 6, 16, 17, 30, 31, 47][trial % 11] if trial % 3 == 0 else int(rng.integers(-6, 7))
        f_g = gate_shift + GATE_IN_FRAC
        batch.add("shim_gru_update", gi.astype(np.int16), gh.astype(np.int16), h.astype(np.int16), hidden, gate_shift,
                  sigmoid_table().astype(np.int16), tanh_table().astype(np.int16),
                  *(np.zeros(hidden, np.int16) for _ in range(3)))
        expected.append((trial, gate_shift, gru_step(gi[None], gh[None], h[None], f_g, sigmoid_table(), tanh_table())))
    for (trial, gate_shift, sim), got in zip(expected, run_batch(batch)):
        h_new, r, z, n = got[2], got[5], got[6], got[7]
        for name, c, s in (("r", r, sim[0]), ("z", z, sim[1]), ("n", n, sim[2]), ("h", h_new, sim[3])):
            assert_same(c, s[0], f"gru {name} (trial {trial}, gate shift {gate_shift})")


def test_weight_layout_is_the_one_the_c_indexes():
    """block_layout_s8 against the layout's definition, position by position (distinct values)."""
    for rows, cols in ((8, 32), (5, 7), (4, 3), (9, 36), (3, 4)):
        w = np.arange(rows * cols).reshape(rows, cols)
        flat = block_layout_s8(w)
        assert sorted(flat) == list(range(rows * cols))
        full, tail, in_word = (cols // 4) * 4, cols % 4, [0, 2, 1, 3]
        for i in range(rows):
            for j in range(cols):
                if i < (rows // 4) * 4:
                    base, r = (i // 4) * 4 * cols, i % 4
                    pos = base + (j // 4) * 16 + r * 4 + in_word[j % 4] if j < full else base + full * 4 + r * tail + (j - full)
                else:
                    pos = i * cols + ((j // 4) * 4 + in_word[j % 4] if j < full else j)
                assert flat[pos] == w[i, j], (rows, cols, i, j)


def test_input_from_counts(host, tiny_export):
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    for counts in (0, 1, -1, 4095, -4096, 32767, -32768, 100000, -100000):
        for k in (10, 12, 14, 16):
            assert host.input_from_counts(counts, k) == int(sat16(rq(np.array([counts]), k - q.frac["x"]))[0])


def test_whole_windows_match_simulator_and_golden(host, tiny_export):
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    xq = vectors.read_inputs(tiny_export / "golden" / "inputs.bin")
    logits, cls, h = host.run_windows(xq, len(q.classes), q.hidden)
    sim = FixedPointSimulator(q).run(xq)
    assert_same(logits, sim.logits, "logits")
    assert_same(cls, sim.classes, "class")
    assert_same(h, sim.h, "final state")
    golden = vectors.read_outputs(tiny_export / "golden" / "outputs.bin")
    assert_same(golden.logits, sim.logits, "golden logits")


def test_the_frame_heading_matches_its_twin_on_the_cores(run_batch, tiny_export):
    """ckd_frame (running sum, integer square root, truncating divisions, the turn) against
    collar_kd/sim/frame.py on every target: headings in every quadrant, full-scale samples of
    every sign, a stream with no heading; the heading updated every sample and every 7th."""
    from collar_kd.sim.frame import frame_samples

    frac_x = QuantizedStudent.load(tiny_export / "quantized_student.npz").frac["x"]
    rng = np.random.default_rng(11)
    angles = np.repeat(np.radians([20.0, 110.0, 200.0, 290.0]), 40)
    g = np.stack([0.6 * np.cos(angles), 0.6 * np.sin(angles), np.full(len(angles), -0.8)], axis=1)
    streams = [sat16(np.round((g + rng.normal(0, 0.2, g.shape)) * 2.0 ** frac_x)),
               rng.choice(np.array(EDGE16), size=(150, 3)),
               np.tile(np.array([0, 1, -(2 ** frac_x)]), (60, 1))]
    batch, expected = ShimBatch(), []
    for k, xs in enumerate(streams):
        xq = np.ascontiguousarray(np.asarray(xs, np.int16))
        for every in (1, 7):
            batch.add("shim_frame_stream", xq, len(xq), every, np.zeros_like(xq), np.zeros(2, np.int32))
            want, heading = frame_samples(xq, frac_x, every)
            expected.append((f"stream {k} every {every}", want, np.array(heading)))
    for (what, want, heading), got in zip(expected, run_batch(batch)):
        assert_same(got[-2], want, f"frame {what}")
        assert_same(got[-1], heading, f"frame heading {what}")
