"""The built-in synthetic generator: deterministic, plausible, clipped, several animals."""

from __future__ import annotations

import numpy as np
import pytest

from collar_kd.data.synthetic import DEFAULT_SETTINGS, SyntheticSettings, generate, write_csv
from collar_kd.data.csv_reader import CsvLayout, read_csv_recordings
from collar_kd.errors import ConfigError


def test_same_seed_same_data_other_seed_other_data(tiny_synthetic):
    s = SyntheticSettings.from_file(tiny_synthetic)
    a, b, c = generate(s, seed=3), generate(s, seed=3), generate(s, seed=4)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_default_settings_cover_four_behaviours_and_several_animals():
    rec = generate(SyntheticSettings.from_file(DEFAULT_SETTINGS), seed=0)
    assert set(rec.labels) >= {"grazing", "ruminating", "resting", "walking"}
    assert len(rec.animals) >= 4
    allx = np.concatenate([b.samples for b in rec.bouts])
    assert np.abs(allx).max() <= 2.0  # clipped at the sensor range
    # gravity dominates: the mean magnitude is about 1 g
    assert 0.9 < np.linalg.norm(allx, axis=1).mean() < 1.15


def test_behaviours_differ_physically():
    rec = generate(SyntheticSettings.from_file(DEFAULT_SETTINGS), seed=1)
    def dyn(label):
        return np.mean([np.std(np.linalg.norm(b.samples, axis=1)) for b in rec.bouts if b.label == label])
    assert dyn("walking") > dyn("grazing") > dyn("resting")


def test_clipping_happens_at_small_range(tmp_path):
    s = SyntheticSettings(animals=1, bouts_per_class=1, bout_seconds=(10, 10), sample_rate=25.0, range_g=1.0)
    allx = np.concatenate([b.samples for b in generate(s, seed=0).bouts])
    assert np.isclose(np.abs(allx).max(), 1.0)


def test_round_trip_through_generic_csv(tmp_path, tiny_synthetic):
    rec = generate(SyntheticSettings.from_file(tiny_synthetic), seed=0)
    path = tmp_path / "syn.csv"
    write_csv(rec, path)
    back = read_csv_recordings(path, CsvLayout(sample_rate=rec.sample_rate))
    assert [(b.animal, b.label, len(b)) for b in back.bouts] == [(b.animal, b.label, len(b)) for b in rec.bouts]
    np.testing.assert_allclose(back.bouts[0].samples, rec.bouts[0].samples, atol=1e-6)


def test_bad_settings(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"animals": 2, "flavour": 1}')
    with pytest.raises(ConfigError, match="flavour"):
        SyntheticSettings.from_file(p)
    p.write_text('{"classes": ["grazing", "flying"]}')
    with pytest.raises(ConfigError, match="flying"):
        SyntheticSettings.from_file(p)
