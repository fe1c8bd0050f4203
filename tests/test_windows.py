"""Windowing only inside bouts, span parsing, skipped short bouts, resampling."""

from __future__ import annotations

import numpy as np
import pytest

from collar_kd.data.recordings import Bout, Recordings
from collar_kd.data.windows import make_windows, parse_span, resample
from collar_kd.errors import ConfigError, DataError


def ramp_bout(animal, label, n, offset):
    s = np.stack([np.arange(n) + offset] * 3, axis=1).astype(np.float32)
    return Bout(animal, label, s, f"test:{animal}:{label}")


def rec_of(*bouts, rate=10.0):
    return Recordings(list(bouts), sample_rate=rate, source="test")


def test_windows_never_cross_bouts():
    rec = rec_of(ramp_bout("a", "x", 10, 0), ramp_bout("a", "y", 7, 100))
    w = make_windows(rec, ("x", "y"), length=4, stride=3)
    # bout 1: starts 0,3,6 ; bout 2: starts 0,3 (3+4=7 fits)
    assert len(w) == 5
    for win in w.x[:, :, 0]:
        assert np.all(np.diff(win) == 1), "a window spans two bouts"
    assert w.y.tolist() == [0, 0, 0, 1, 1]
    assert w.x[3, 0, 0] == 100


def test_window_exactly_bout_length_and_stride_larger_than_window():
    rec = rec_of(ramp_bout("a", "x", 8, 0))
    assert len(make_windows(rec, ("x",), 8, 1)) == 1
    assert len(make_windows(rec, ("x",), 2, 5)) == 2  # starts 0 and 5


def test_short_bouts_are_counted_not_silent():
    rec = rec_of(ramp_bout("a", "x", 10, 0), ramp_bout("a", "y", 3, 0), ramp_bout("b", "y", 2, 0))
    w = make_windows(rec, ("x", "y"), 5, 5)
    assert w.skipped_bouts == {"y": 2}
    assert w.class_support() == {"x": 2, "y": 0}


def test_all_bouts_too_short_is_an_error():
    with pytest.raises(DataError, match="every bout is shorter than one window of 50 samples"):
        make_windows(rec_of(ramp_bout("a", "x", 10, 0)), ("x",), 50, 10)


def test_label_outside_classes_is_an_error():
    with pytest.raises(DataError, match="'z' is not one of the model's classes"):
        make_windows(rec_of(ramp_bout("a", "z", 10, 0)), ("x",), 5, 5)


@pytest.mark.parametrize("text,rate,expected", [("5s", 10, 50), ("2.5 s", 10, 25), ("50", 10, 50), (64, 62.5, 64), ("4.096s", 62.5, 256)])
def test_parse_span(text, rate, expected):
    assert parse_span(text, rate, "window") == expected


@pytest.mark.parametrize("text", ["abc", "0", "2.5", "-3s", "0.01s"])
def test_parse_span_rejects(text):
    with pytest.raises(ConfigError, match="window"):
        parse_span(text, 10.0, "window")


def test_resample_changes_rate_and_length():
    t = np.arange(200) / 10.0
    sig = np.stack([np.sin(2 * np.pi * 0.5 * t)] * 3, axis=1).astype(np.float32)
    rec = rec_of(Bout("a", "x", sig, "s"))
    up = resample(rec, 50.0)
    assert up.sample_rate == 50.0 and len(up.bouts[0]) == 1000
    t50 = np.arange(1000) / 50.0
    # a slow sine survives resampling (away from the edges)
    np.testing.assert_allclose(up.bouts[0].samples[100:900, 0], np.sin(2 * np.pi * 0.5 * t50[100:900]), atol=0.02)
    eartag = resample(rec, 62.5)
    assert eartag.sample_rate == 62.5 and len(eartag.bouts[0]) == 1250
    assert resample(rec, 10.0) is rec
