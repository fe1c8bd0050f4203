"""The WASP per-bout layout, on small files written here, and on the shared data when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from collar_kd.data.class_maps import load_class_map
from collar_kd.data.wasp import read_wasp_recordings

WASP_CHANNELS = ("BNO055_AX", "BNO055_AY", "BNO055_AZ")
from collar_kd.errors import DataError

COLUMNS = ["Time", "BNO055_ARX", "BNO055_ARY", "BNO055_ARZ", *WASP_CHANNELS, "MPU9250_AX", "MPU9250_AY", "MPU9250_AZ"]


def write_bout(root: Path, folder: str, name: str, n: int = 30, az: float = -9.80665, step: float = 0.1):
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    lines = [",".join(COLUMNS)]
    for i in range(n):
        t = f"2024-05-13 12:00:{int(i * step):02d}.{int(round(i * step * 10)) % 10}"
        lines.append(f"{t},0,0,9.8,0.98,0.0,{az},75,75,75")
    (d / name).write_text("\n".join(lines) + "\n")


def test_reads_animal_from_file_name_and_maps_classes(tmp_path):
    write_bout(tmp_path, "Walking", "1_Walking_1319_20240513_120009.csv")
    write_bout(tmp_path, "Others", "2_Standing_4821_20240513_120109.csv")
    write_bout(tmp_path, "Others", "3_Licking_4821_20240513_120209.csv")
    rec = read_wasp_recordings(tmp_path)
    assert [(b.animal, b.label) for b in rec.bouts] == [("4821", "standing"), ("4821", "other"), ("1319", "walking")]
    np.testing.assert_allclose(rec.bouts[0].samples[0], [0.1, 0.0, -1.0], rtol=1e-3)  # m/s2 -> g, BNO055 body frame
    four = read_wasp_recordings(tmp_path, class_map=load_class_map("wasp_four_class"))
    assert [b.label for b in four.bouts] == ["standing", "walking"]
    assert four.dropped == {"bouts with a label the class map drops": 1}


def test_bad_file_name(tmp_path):
    write_bout(tmp_path, "Walking", "walk.csv")
    with pytest.raises(DataError, match="walk.csv: path does not match the 'wasp_cow_walking' layout"):
        read_wasp_recordings(tmp_path)


def test_unknown_behaviour(tmp_path):
    write_bout(tmp_path, "Others", "9_Flying_4821_20240513_120209.csv")
    with pytest.raises(DataError, match="unknown label 'Flying'"):
        read_wasp_recordings(tmp_path)


def test_wrong_rate_is_reported(tmp_path):
    write_bout(tmp_path, "Walking", "1_Walking_1319_20240513_120009.csv", step=0.2)
    with pytest.raises(DataError, match="sample rate given is 10 Hz"):
        read_wasp_recordings(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="layout needs a directory of per-bout CSV files"):
        read_wasp_recordings(tmp_path / "absent")


def test_shared_dataset(wasp_root):
    rec = read_wasp_recordings(wasp_root)
    assert rec.animals == ["1217", "1219", "1319", "2016", "3120", "3321", "4119", "4821", "6019", "6319"]
    assert len(rec.bouts) == 439
    assert set(rec.labels) == {"grazing", "resting", "standing", "walking", "other"}
    # The BNO055 clips near +-4 g; at rest the magnitude is about 1 g.
    allx = np.concatenate([b.samples for b in rec.bouts])
    assert np.abs(allx).max() < 4.2
    assert 0.85 < np.median(np.linalg.norm(allx, axis=1)) < 1.15
