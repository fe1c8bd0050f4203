"""The generic CSV layout: one row per sample.

    animal,ax,ay,az,label[,timestamp]

Column names and units are configurable (`CsvLayout`). A file may hold several animals and
bouts; a bout is a run of consecutive rows with the same animal and label (and, with
timestamps, no gap longer than 1.5 sample periods). A directory is read as all its `*.csv`
files, in name order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collar_kd.data import table_checks as tc
from collar_kd.data.class_maps import ClassMap
from collar_kd.data.recordings import Bout, Recordings
from collar_kd.data.units import to_g
from collar_kd.errors import DataError


@dataclass(frozen=True)
class CsvLayout:
    sample_rate: float
    animal: str = "animal"
    axes: tuple[str, str, str] = ("ax", "ay", "az")
    label: str = "label"
    time: str | None = "timestamp"  # used when present; None ignores timestamps
    time_required: bool = False
    units: str = "g"
    counts_per_g: float | None = None


def csv_files(path: Path) -> list[Path]:
    """A file, or a directory's '*.csv' files (any case) in name order; subdirectories and other
    files are not read (read_csv_recordings counts them)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        if not files:
            raise DataError(str(path), "directory contains no .csv files")
        return files
    if not path.exists():
        raise DataError(str(path), "no such file or directory")
    return [path]


def read_csv_recordings(path: Path, layout: CsvLayout, class_map: ClassMap | None = None) -> Recordings:
    rec = Recordings(bouts=[], sample_rate=float(layout.sample_rate), source=str(path))
    files = csv_files(Path(path))
    if Path(path).is_dir() and len(files) < len(list(Path(path).iterdir())):
        rec.count_dropped("entries of the data directory that are not .csv files (not read)",
                          len(list(Path(path).iterdir())) - len(files))
    for f in files:
        rec.bouts.extend(_read_one(f, layout, class_map, rec))
    if not rec.bouts:
        raise DataError(str(path), "no labelled samples left after applying the class map")
    return rec


def _read_one(path: Path, layout: CsvLayout, class_map: ClassMap | None, rec: Recordings) -> list[Bout]:
    df = tc.read_table(path)
    tc.require_columns(df, [layout.animal, *layout.axes, layout.label], path)
    use_time = layout.time is not None and (layout.time in df.columns or layout.time_required)
    if use_time:
        tc.require_columns(df, [layout.time], path)
    xyz = np.stack([tc.numeric_column(df, c, path) for c in layout.axes], axis=1)
    xyz = to_g(xyz, layout.units, layout.counts_per_g)
    tc.check_acceleration(xyz, df, layout.axes, path)
    xyz = xyz.astype(np.float32)
    animals = tc.text_column(df, layout.animal, path)
    raw_labels = tc.text_column(df, layout.label, path)

    labels = np.empty(len(df), dtype=object)
    for raw in np.unique(raw_labels):
        rows = np.nonzero(raw_labels == raw)[0]
        labels[rows] = raw if class_map is None else class_map.resolve(raw, str(path), row=tc.line_of(df, rows[0]))

    # Bout boundaries: animal or label changes, and timestamp gaps.
    starts = {0}
    change = (animals[1:] != animals[:-1]) | (labels[1:] != labels[:-1])
    starts.update((np.nonzero(change)[0] + 1).tolist())
    if use_time:
        times = tc.time_column(df, layout.time, path)
        for animal in np.unique(animals):
            rows = np.nonzero(animals == animal)[0]
            gaps = tc.check_timestamps(times[rows], rows, layout.sample_rate, df, layout.time)
            if len(gaps):
                rec.count_dropped("timestamp gaps that split a bout", len(gaps))
            starts.update(rows[gaps].tolist())
            # Rows of one animal that are not adjacent in the file also start a new bout.
            starts.update(rows[1:][np.diff(rows) > 1].tolist())
    bounds = sorted(starts) + [len(df)]

    bouts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if labels[a] is None:
            rec.count_dropped("bouts with a label the class map drops")
            continue
        bouts.append(
            Bout(
                animal=str(animals[a]),
                label=str(labels[a]),
                samples=xyz[a:b],
                source=f"{path}:{tc.line_of(df, a)}-{tc.line_of(df, b - 1)}",
            )
        )
    return bouts
