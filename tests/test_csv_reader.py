"""The generic CSV reader: good files, unit conversion, bouts, and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from collar_kd.data.class_maps import ClassMap
from collar_kd.data.csv_reader import CsvLayout, read_csv_recordings
from collar_kd.errors import DataError

HEADER = "animal,timestamp,ax,ay,az,label\n"


def rows(animal="cow1", label="grazing", n=5, t0=0.0, rate=10.0, value="0.1"):
    return "".join(f"{animal},{t0 + i / rate:.3f},{value},0.2,-0.98,{label}\n" for i in range(n))


def write(tmp_path: Path, text: str, name="data.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def read(path, **kw):
    class_map = kw.pop("class_map", None)
    return read_csv_recordings(path, CsvLayout(sample_rate=kw.pop("rate", 10.0), **kw), class_map)


def test_reads_bouts_per_animal_and_label(tmp_path):
    p = write(tmp_path, HEADER + rows("cow1", "grazing", 6) + rows("cow1", "walking", 4, t0=0.6) + rows("cow2", "grazing", 5))
    rec = read(p)
    assert [(b.animal, b.label, len(b)) for b in rec.bouts] == [("cow1", "grazing", 6), ("cow1", "walking", 4), ("cow2", "grazing", 5)]
    assert rec.sample_rate == 10.0
    assert rec.bouts[0].samples.dtype == np.float32
    np.testing.assert_allclose(rec.bouts[0].samples[0], [0.1, 0.2, -0.98], rtol=1e-6)
    assert rec.bouts[0].source.endswith(":2-7")  # file lines of the bout


def test_timestamp_gap_splits_bout_and_is_counted(tmp_path):
    p = write(tmp_path, HEADER + rows(n=5) + rows(n=5, t0=3.0))
    rec = read(p)
    assert [len(b) for b in rec.bouts] == [5, 5]
    assert rec.dropped == {"timestamp gaps that split a bout": 1}


@pytest.mark.parametrize("units,kw,expected", [("m/s2", {}, 0.1 / 9.80665), ("counts", {"counts_per_g": 1000.0}, 0.0001), ("g", {}, 0.1)])
def test_units_are_converted_to_g(tmp_path, units, kw, expected):
    rec = read(write(tmp_path, HEADER + rows(n=3)), units=units, **kw)
    assert rec.bouts[0].samples[0, 0] == pytest.approx(expected, rel=1e-6)


def test_configurable_column_names_and_no_timestamps(tmp_path):
    p = write(tmp_path, "id,x,y,z,behaviour\n" + "".join(f"c{i // 4},0,0,1,rest\n" for i in range(8)))
    rec = read(p, animal="id", axes=("x", "y", "z"), label="behaviour", time=None)
    assert [b.animal for b in rec.bouts] == ["c0", "c1"]


def test_directory_of_files(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    write(d, HEADER + rows("a", n=4), "1.csv")
    write(d, HEADER + rows("b", n=4), "2.csv")
    assert [b.animal for b in read(d).bouts] == ["a", "b"]


@pytest.mark.parametrize(
    "text,expect",
    [
        ("", "file is empty"),
        (HEADER, "no data rows"),
        ("animal,timestamp,ax,ay,label\n" + "a,0,1,1,x\n", "missing column(s) 'az'"),
        (HEADER + rows(n=2) + "cow1,0.2,abc,0.2,-0.98,grazing\n", "row 4, column 'ax': value 'abc' is not a finite number"),
        (HEADER + rows(n=2) + "cow1,0.2,nan,0.2,-0.98,grazing\n", "row 4, column 'ax'"),
        (HEADER + "cow1,0.0,0.1,inf,-0.98,grazing\n", "row 2, column 'ay'"),
        (HEADER + "cow1,0.0,0.1,,-0.98,grazing\n", "row 2, column 'ay': empty value"),
        (HEADER + "cow1,0.0,0.1,0.2,-0.98,\n", "row 2, column 'label': empty value"),
        (HEADER + rows(n=3) + "cow1,0.1,0.1,0.2,-0.98,grazing\n", "row 5, column 'timestamp': timestamp earlier"),
        (HEADER + rows(n=3) + "cow1,0.2,0.1,0.2,-0.98,grazing\n", "row 5, column 'timestamp': timestamp duplicated"),
        (HEADER + rows(n=6, rate=25.0), "(= 25 Hz) but the sample rate given is 10 Hz"),
        (HEADER + "cow1,yesterday,0.1,0.2,-0.98,grazing\n", "'yesterday' is not a timestamp"),
    ],
)
def test_bad_input_names_file_row_and_column(tmp_path, text, expect):
    p = write(tmp_path, text)
    with pytest.raises(DataError) as e:
        read(p)
    assert str(p) in str(e.value)
    assert expect in str(e.value)


def test_unknown_label_with_class_map(tmp_path):
    p = write(tmp_path, HEADER + rows(n=3) + rows(label="flying", n=2, t0=0.3))
    cmap = ClassMap(("grazing",), {"grazing": "grazing"}, "test-map")
    with pytest.raises(DataError, match=r"row 5: unknown label 'flying'"):
        read(p, class_map=cmap)


def test_class_map_drop_is_counted(tmp_path):
    p = write(tmp_path, HEADER + rows(n=3) + rows(label="other", n=2, t0=0.3))
    cmap = ClassMap(("grazing",), {"grazing": "grazing", "other": None}, "test-map")
    rec = read(p, class_map=cmap)
    assert [b.label for b in rec.bouts] == ["grazing"]
    assert rec.dropped == {"bouts with a label the class map drops": 1}


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read(tmp_path / "nope.csv")


def test_iso_datetime_timestamps(tmp_path):
    text = "animal,timestamp,ax,ay,az,label\n" + "".join(f"a,2024-05-13 12:00:0{i // 10}.{i % 10},0,0,1,rest\n" for i in range(12))
    rec = read(write(tmp_path, text))
    assert len(rec.bouts[0]) == 12
