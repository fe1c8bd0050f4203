"""Each C kernel against the simulator on edge values: the C compiled on the host and driven
through ctypes with the same data (emlearn-style). Any difference names the first element."""

from __future__ import annotations

import numpy as np
import pytest

from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.quant.tables import sigmoid_table, tanh_table
from collar_kd.sim import FixedPointSimulator
from collar_kd.sim.kernels import act_lookup, fc, gru_step, matvec_acc, rq, sat16
from collar_kd.export import vectors
from collar_kd.verify.host_lib import HostC

EDGE16 = np.array([32767, -32767, 0, 1, -1, 16384, -16384, 32766, -32766, 12345], dtype=np.int64)


def assert_same(c: np.ndarray, sim: np.ndarray, what: str) -> None:
    c, sim = np.asarray(c, np.int64), np.asarray(sim, np.int64)
    diff = np.nonzero(c.ravel() != sim.ravel())[0]
    assert not len(diff), f"{what}: first difference at element {diff[0]}: C {c.ravel()[diff[0]]} vs simulator {sim.ravel()[diff[0]]}"


@pytest.fixture(scope="module")
def host(tiny_export, tmp_path_factory) -> HostC:
    return HostC(tiny_export, tmp_path_factory.mktemp("hostlib"))


@pytest.mark.parametrize("bits,wmax", [(8, 127), (16, 32767)])
@pytest.mark.parametrize("cols", [1, 3, 4, 7, 32, 256])
def test_fc_matches_simulator_on_edge_values(host, bits, wmax, cols):
    rng = np.random.default_rng(cols + bits)
    rows = 5
    for trial in range(6):
        if trial == 0:  # every product at its extreme: the accumulator-bound case
            w = np.full((rows, cols), wmax) * rng.choice([-1, 1], size=(rows, 1))
            x = np.full(cols, 32767)
        else:
            w = rng.integers(-wmax, wmax + 1, size=(rows, cols))
            x = rng.choice(EDGE16, size=cols) if trial % 2 else rng.integers(-32767, 32768, size=cols)
        limit = 2**29 if bits == 8 else 2**31 - 1
        bias = rng.integers(-limit, limit, size=rows)
        for shift in (-3, 0, 1, 9, 22):
            for relu in (False, True):
                out, acc = host.fc(w, bias, x, shift, relu, bits)
                sim = fc(w, bias, x[None, :], shift, relu)[0]
                assert_same(out, sim, f"fc bits={bits} cols={cols} shift={shift}")
                assert_same(acc, np.clip(matvec_acc(w, bias, x[None, :])[0], -(2**31 - 1), 2**31 - 1), "fc accumulators")


@pytest.mark.parametrize("table", ["sigmoid", "tanh"])
def test_activation_over_every_int16_input(host, table):
    t = sigmoid_table() if table == "sigmoid" else tanh_table()
    x = np.arange(-32768, 32768, dtype=np.int16)
    assert_same(host.act(x, t), act_lookup(x.astype(np.int64), t), table)


def test_gru_update_matches_simulator_on_edge_values(host):
    rng = np.random.default_rng(7)
    hidden = 6
    for trial in range(200):
        pool = EDGE16 if trial % 2 else np.arange(-32767, 32768)
        gi, gh = rng.choice(pool, size=3 * hidden), rng.choice(pool, size=3 * hidden)
        h = rng.choice(pool, size=hidden)
        f_g = int(rng.integers(6, 18))
        r, z, n, h_new = host.gru_update(gi, gh, h, f_g - 12, sigmoid_table(), tanh_table())
        sr, sz, sn, sh = gru_step(gi[None], gh[None], h[None], f_g, sigmoid_table(), tanh_table())
        for name, c, s in (("r", r, sr), ("z", z, sz), ("n", n, sn), ("h", h_new, sh)):
            assert_same(c, s[0], f"gru {name} (trial {trial})")


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
