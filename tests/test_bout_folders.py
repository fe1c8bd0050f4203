"""The per-bout folder reader: layouts as data (a pattern with named groups, columns, units),
the two WASP layouts as presets, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from collar_kd.config import DataConfig
from collar_kd.data import load_recordings
from collar_kd.data.bout_folders import LAYOUT_DIR, load_layout
from collar_kd.errors import ConfigError, DataError
from collar_kd.paths import SHARED_DATASETS

MOUNTS_HEADER = "TIME,BNO055_ax_body,BNO055_ay_body,BNO055_az_body,MPU9250_ax_body\n"


def bout(path: Path, start: str = "2023-10-07 07:36:40", n: int = 30, g: float = 9.80665) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = np.datetime64(start.replace(" ", "T"))
    rows = [f"{str(t0 + np.timedelta64(100 * i, 'ms')).replace('T', ' ')},0.0,0.0,{g},1.0\n" for i in range(n)]
    path.write_text(MOUNTS_HEADER + "".join(rows))


def mounts_tree(root: Path) -> Path:
    bout(root / "active mount" / "active_mount_2321_20231007_73640.csv")
    bout(root / "head nodding" / "head_nodding_3819_20240406_80557.csv", start="2024-04-06 08:05:57")
    bout(root / "grazing" / "grazing_1217_20240517_113740.csv", start="2024-05-17 11:37:40")
    return root


def test_mounts_layout_reads_spaces_underscores_and_unpadded_times(tmp_path):
    rec, class_map = load_recordings(DataConfig(path=str(mounts_tree(tmp_path)), format="bouts", layout="wasp_cow_mounts"))
    assert class_map.classes == ("grazing", "resting", "walking", "head nodding", "active mount")
    got = sorted((b.animal, b.label) for b in rec.bouts)
    assert got == [("1217", "grazing"), ("2321", "active mount"), ("3819", "head nodding")]
    b = next(b for b in rec.bouts if b.animal == "2321")
    assert abs(float(b.samples[0, 2]) - 1.0) < 1e-6  # m/s^2 -> g
    assert b.start == pytest.approx(np.datetime64("2023-10-07T07:36:40", "s").astype(np.int64))
    assert rec.sample_rate == 10.0


def test_a_custom_layout_is_a_few_settings(tmp_path):
    root = tmp_path / "farm"
    for animal, beh in (("cow7", "lying"), ("cow9", "eating_hay")):
        bout(root / animal / f"{beh}__{animal}.csv", g=1.0)
    layout = tmp_path / "farm.json"
    layout.write_text(json.dumps({"pattern": r"^(?P<animal>[^/]+)/(?P<behaviour>.+)__[^/]+\.csv$", "time_column": "TIME",
                                  "axis_columns": ["BNO055_ax_body", "BNO055_ay_body", "BNO055_az_body"],
                                  "units": "g", "sample_rate": 10}))
    rec, class_map = load_recordings(DataConfig(path=str(root), format="bouts", layout=str(layout)))
    assert sorted((b.animal, b.label) for b in rec.bouts) == [("cow7", "lying"), ("cow9", "eating_hay")]
    assert class_map.classes == ("eating_hay", "lying")


def test_a_file_that_does_not_match_is_named_or_counted(tmp_path):
    root = mounts_tree(tmp_path / "d")
    bout(root / "grazing" / "grazing notes.csv")
    with pytest.raises(DataError, match=r"grazing/grazing notes.csv: path does not match the 'wasp_cow_mounts'"):
        load_recordings(DataConfig(path=str(root), format="bouts", layout="wasp_cow_mounts"))
    doc = json.loads((LAYOUT_DIR / "wasp_cow_mounts.json").read_text())
    doc["unmatched"] = "skip"
    (tmp_path / "skip.json").write_text(json.dumps(doc))
    rec, _ = load_recordings(DataConfig(path=str(root), format="bouts", layout=str(tmp_path / "skip.json")))
    assert len(rec.bouts) == 3
    assert list(rec.dropped.values()) == [1] and "grazing/grazing notes.csv" in next(iter(rec.dropped))


@pytest.mark.parametrize("doc,needle", [
    ({"pattern": "(?P<animal>x", "axis_columns": ["a", "b", "c"], "sample_rate": 10}, "not a regular expression"),
    ({"pattern": "(?P<animal>x)", "axis_columns": ["a", "b", "c"], "sample_rate": 10}, "named group(s) behaviour"),
    ({"pattern": "(?P<animal>x)(?P<behaviour>y)", "axis_columns": ["a", "b"], "sample_rate": 10}, "exactly three"),
    ({"pattern": "(?P<animal>x)(?P<behaviour>y)", "axis_columns": ["a", "b", "c"], "sample_rate": -1}, "sample_rate"),
    ({"pattern": "(?P<animal>x)(?P<behaviour>y)", "axis_columns": ["a", "b", "c"], "sample_rate": 10, "units": "furlongs"},
     "units"),
    ({"pattern": "(?P<animal>x)(?P<behaviour>y)", "axis_columns": ["a", "b", "c"], "sample_rate": 10, "colour": 1},
     "unknown: colour"),
    ({"axis_columns": ["a", "b", "c"], "sample_rate": 10}, "needs 'pattern'"),
])
def test_bad_layouts_are_refused_naming_the_file_and_field(tmp_path, doc, needle):
    (tmp_path / "l.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as e:
        load_layout(str(tmp_path / "l.json"))
    assert str(tmp_path / "l.json") in str(e.value) and needle in str(e.value)


def test_bouts_format_needs_a_layout_and_a_known_one(tmp_path):
    with pytest.raises(ConfigError, match="needs a layout"):
        load_recordings(DataConfig(path=str(tmp_path), format="bouts"))
    with pytest.raises(ConfigError, match="neither a shipped layout"):
        load_recordings(DataConfig(path=str(tmp_path), format="bouts", layout="nope"))


def test_shared_mounts_dataset(tmp_path):
    root = SHARED_DATASETS / "wasp_cow_mounts"
    if not root.is_dir():
        pytest.skip(f"shared dataset wasp_cow_mounts not found at {root} (it lives outside the repository)")
    rec, class_map = load_recordings(DataConfig(path=str(root), format="bouts", layout="wasp_cow_mounts"))
    assert len(rec.bouts) >= 367 and set(rec.labels) == set(class_map.classes)
    assert {"2321", "3819", "3919"} <= set(rec.animals)
