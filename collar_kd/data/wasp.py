"""Reader for the per-bout layout of WASP-lab's db-cow-walking collar dataset.

One CSV per labelled bout, in class folders, named
`{event_id}_{Behaviour}_{cowID}_{YYYYMMDD}_{HHMMSS}.csv`. The animal id comes from the file
name. By default the BNO055 body-frame acceleration (m/s^2) is used: the dataset's notes say
the MPU9250 of cow 1319 is faulty in 17 files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from collar_kd.data import table_checks as tc
from collar_kd.data.class_maps import ClassMap, load_class_map
from collar_kd.data.recordings import Bout, Recordings
from collar_kd.data.units import to_g
from collar_kd.errors import DataError

WASP_SAMPLE_RATE = 10.0
WASP_CHANNELS = ("BNO055_AX", "BNO055_AY", "BNO055_AZ")
WASP_TIME = "Time"
FILE_NAME = re.compile(r"^(?P<event>\d+)_(?P<behaviour>[A-Za-z]+)_(?P<cow>\d+)_(?P<date>\d{8})_(?P<time>\d{6})\.csv$", re.IGNORECASE)


def read_wasp_recordings(
    root: Path,
    class_map: ClassMap | None = None,
    channels: tuple[str, str, str] = WASP_CHANNELS,
    sample_rate: float = WASP_SAMPLE_RATE,
) -> Recordings:
    root = Path(root)
    if not root.is_dir():
        raise DataError(str(root), "the wasp layout needs the dataset directory (with Grazing/, Walking/, ... inside)")
    files, skipped = bout_files(root)
    if not files:
        raise DataError(str(root), "no '<class folder>/<bout>.csv' files found")
    class_map = class_map or load_class_map("wasp_default")
    rec = Recordings(bouts=[], sample_rate=sample_rate, source=str(root))
    if skipped:
        rec.count_dropped("files inside class folders that are not '<class folder>/<bout>.csv' (nested or not CSV)",
                          skipped)
    for path in files:
        m = FILE_NAME.match(path.name)
        if m is None:
            raise DataError(str(path), "file name does not follow {event}_{Behaviour}_{cowID}_{YYYYMMDD}_{HHMMSS}.csv")
        label = class_map.resolve(m["behaviour"], str(path))
        if label is None:
            rec.count_dropped("bouts with a label the class map drops")
            continue
        df = tc.read_table(path)
        tc.require_columns(df, [WASP_TIME, *channels], path)
        xyz = np.stack([tc.numeric_column(df, c, path) for c in channels], axis=1)
        times = tc.time_column(df, WASP_TIME, path)
        gaps = tc.check_timestamps(times, np.arange(len(df)), sample_rate, df, WASP_TIME)
        xyz = to_g(xyz, "m/s2")
        tc.check_acceleration(xyz, df, channels, path)
        xyz = xyz.astype(np.float32)
        bounds = [0, *gaps.tolist(), len(df)]
        if len(gaps):
            rec.count_dropped("timestamp gaps that split a bout", len(gaps))
        for a, b in zip(bounds[:-1], bounds[1:]):
            rec.bouts.append(Bout(animal=m["cow"], label=label, samples=xyz[a:b], source=str(path)))
    if not rec.bouts:
        raise DataError(str(root), "no bouts left after applying the class map")
    return rec


def bout_files(root: Path) -> tuple[list[Path], int]:
    """The '<class folder>/<bout>.csv' files under root (any case of '.csv'), in class then event
    order, and how many other files the class folders hold (nested deeper, or not CSV): those
    are counted, never read. Symbolic links to directories are not followed."""
    files, skipped = [], 0
    for folder, dirs, names in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        for name in names:
            if depth == 1 and name.lower().endswith(".csv"):
                files.append(Path(folder) / name)
            elif depth >= 1:
                skipped += 1
    return sorted(files, key=lambda p: (p.parent.name, _event_id(p), p.name)), skipped


def _event_id(path: Path) -> int:
    m = FILE_NAME.match(path.name)
    return int(m["event"]) if m else -1
