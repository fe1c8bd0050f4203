"""sigmoid / tanh tables and the rounding rule, against the exact functions and worked values."""

from __future__ import annotations

import numpy as np

from collar_kd.quant.tables import sigmoid_table, tanh_table
from collar_kd.sim.kernels import act_lookup, rq, sat16

ALL_Q12 = np.arange(-32768, 32768, dtype=np.int64)


def test_rounding_rule_by_hand():
    # add half, shift right: round half up (towards +infinity on ties)
    assert rq(np.array([5, 6, 7, -5, -6, -7, 2, -2]), 2).tolist() == [1, 2, 2, -1, -1, -2, 1, 0]
    assert rq(np.array([3, -3]), 0).tolist() == [3, -3]
    assert rq(np.array([3, -3]), -2).tolist() == [12, -12]
    assert sat16(np.array([40000, -40000, -32768, 5])).tolist() == [32767, -32767, -32767, 5]


def test_tables_shape_range_and_monotonic():
    s, t = sigmoid_table(), tanh_table()
    assert s.shape == t.shape == (257,)
    assert s.min() >= 0 and s.max() <= 32767 and t.min() == -32767 and t.max() == 32767
    assert np.all(np.diff(s.astype(int)) >= 0) and np.all(np.diff(t.astype(int)) >= 0)
    assert s[128] == 16384 and t[128] == 0  # sigmoid(0) = 1/2, tanh(0) = 0


def test_lookup_worked_example():
    s = sigmoid_table().astype(np.int64)
    # p = 4096 (1.0 in Q12): u = 36864, i = 144, w = 0 -> exactly the table point at x = 1
    assert act_lookup(np.array([4096]), sigmoid_table())[0] == s[144]
    # p = 4096 + 128: halfway between points 144 and 145
    expected = s[144] + ((s[145] - s[144]) * 128 + 128) // 256
    assert act_lookup(np.array([4224]), sigmoid_table())[0] == expected


def test_max_error_over_all_int16_inputs_matches_the_documented_bounds():
    x = ALL_Q12 / 4096.0
    sig = act_lookup(ALL_Q12, sigmoid_table()) / 32768.0
    tnh = act_lookup(ALL_Q12, tanh_table()) / 32768.0
    err_sig = np.abs(sig - 1 / (1 + np.exp(-x))).max()
    err_tanh = np.abs(tnh - np.tanh(x)).max()
    # docs/fixed-point.md: sigmoid 6.7e-5, tanh 3.9e-4 (at x = -1.03 and -0.66)
    assert 5e-5 < err_sig < 7e-5
    assert 3.5e-4 < err_tanh < 4e-4
