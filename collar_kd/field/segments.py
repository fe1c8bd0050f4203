"""Whole recordings for field use: contiguous runs of one animal's samples, cut only at gaps in
time (never at label changes, which unlabelled data does not have).

Two sources:
- any reader's recordings (bouts, with their start times where the format has them): the
  bouts of one animal that follow each other without a gap are joined again;
- a CSV file or directory read in chunks (`stream_csv_segments`), so a day of 62.5 Hz data
  never sits in memory as text: only the current segment of each animal does, as float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from collar_kd.data import table_checks as tc
from collar_kd.data.csv_reader import CsvLayout, csv_files
from collar_kd.data.recordings import Recordings
from collar_kd.data.units import to_g
from collar_kd.errors import ConfigError, DataError

GAP_PERIODS = 1.5  # a step longer than this many sample periods is a gap (as in the readers)
UNLABELLED = -1


@dataclass
class Segment:
    animal: str
    start: float  # seconds: since the Unix epoch when `clock` is "datetime", else the data's own seconds
    rate: float
    samples: np.ndarray  # (n, 3) float32, g
    labels: np.ndarray | None  # (n,) int16 class index per sample, UNLABELLED where unknown; None: no labels
    source: str
    clock: str = "seconds"  # "datetime" | "seconds"

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    @property
    def end(self) -> float:
        return self.start + len(self) / self.rate

    def resampled(self, rate: float) -> "Segment":
        """Polyphase resampling to `rate` (scipy, as training does); labels follow the nearest
        earlier sample."""
        if abs(rate - self.rate) < 1e-9 * rate:
            return self
        ratio = Fraction(rate / self.rate).limit_denominator(1000)
        up, down = ratio.numerator, ratio.denominator
        x = resample_poly(self.samples.astype(np.float64), up, down, axis=0).astype(np.float32)
        labels = None
        if self.labels is not None:
            idx = np.minimum((np.arange(len(x)) * down) // up, len(self) - 1)
            labels = self.labels[idx]
        return Segment(self.animal, self.start, self.rate * up / down, x, labels, self.source, self.clock)


def segments_from_recordings(rec: Recordings, classes: tuple[str, ...] | None) -> list[Segment]:
    """Join the bouts of each animal that follow each other in time into segments. Bouts with a
    start time are ordered by it and joined when the next starts within GAP_PERIODS of where
    the last ended; bouts without one (synthetic data) follow each other in reading order."""
    index = {c: i for i, c in enumerate(classes or ())}
    by_animal: dict[str, list] = {}
    for b in rec.bouts:
        by_animal.setdefault(b.animal, []).append(b)
    period = 1.0 / rec.sample_rate
    segments = []
    for animal in sorted(by_animal):
        bouts = by_animal[animal]
        timed = all(b.start is not None for b in bouts)
        if timed:
            bouts = sorted(bouts, key=lambda b: b.start)  # stable: equal starts keep reading order
        current: list = []
        end = 0.0  # where the current segment ends
        for b in bouts:
            start = b.start if timed else end
            if current and abs(start - end) > GAP_PERIODS * period:
                segments.append(_segment(animal, current, rec, index, timed))
                current = []
            current.append((start, b))
            end = start + len(b) * period
        if current:
            segments.append(_segment(animal, current, rec, index, timed))
    return segments


def _segment(animal, parts, rec, index, timed) -> Segment:
    samples = np.concatenate([b.samples for _, b in parts]).astype(np.float32)
    labels = np.concatenate([np.full(len(b), index.get(b.label, UNLABELLED), dtype=np.int16) for _, b in parts])
    start = parts[0][0]
    clock = "datetime" if timed and start > 1e8 else "seconds"  # epoch seconds from date-times are large
    return Segment(animal, float(start), rec.sample_rate, samples, labels, parts[0][1].source, clock)


def stream_csv_segments(path: Path, layout: CsvLayout, classes: tuple[str, ...] | None, chunk_rows: int = 50_000,
                        use_labels: bool = True) -> Iterator[Segment]:
    """Segments of a CSV file (or a directory's CSV files) read `chunk_rows` rows at a time.
    Labels are read only when `use_labels` and the file has the label column; a label not in
    `classes` is UNLABELLED. Timestamps are required to find gaps (no timestamps: each
    animal's rows are one segment)."""
    if chunk_rows < 2:
        raise ConfigError(f"--chunk-rows: at least 2, not {chunk_rows}")
    for f in csv_files(Path(path)):
        yield from _stream_file(f, layout, classes, chunk_rows, use_labels)


def _stream_file(path: Path, layout: CsvLayout, classes, chunk_rows: int, use_labels: bool) -> Iterator[Segment]:
    header = tc.checked_header(path)
    tc.require_columns(pd.DataFrame(columns=header), [layout.animal, *layout.axes], path)
    has_time = layout.time is not None and layout.time in header
    has_labels = use_labels and layout.label in header
    index = {c: i for i, c in enumerate(classes or ())}
    period = 1.0 / layout.sample_rate
    open_: dict[str, dict] = {}  # animal -> {"start", "last", "x": [arrays], "y": [arrays], "clock"}
    columns = [layout.animal, *layout.axes] + ([layout.time] if has_time else []) + ([layout.label] if has_labels else [])
    offset = 0
    with tc.csv_errors(path):
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, usecols=columns,
                             chunksize=chunk_rows)
        for chunk in reader:
            chunk.columns = [c.strip() for c in chunk.columns]
            chunk.attrs["path"] = str(path)
            chunk.index = np.arange(offset, offset + len(chunk))
            yield from _take_chunk(chunk, path, layout, has_time, has_labels, index, period, open_)
            offset += len(chunk)
    for animal in list(open_):
        yield _close(open_.pop(animal), animal, layout, path)


def _take_chunk(chunk, path, layout, has_time, has_labels, index, period, open_) -> Iterator[Segment]:
    # Errors name the file's physical line: `chunk.index` is the row number within the file.
    view = chunk.reset_index(drop=True)
    view.attrs["path"] = str(path)
    view.attrs["lines"] = tc.physical_lines_from(path, int(chunk.index[0]), len(chunk))
    xyz = to_g(np.stack([tc.numeric_column(view, c, path) for c in layout.axes], axis=1), layout.units, layout.counts_per_g)
    tc.check_acceleration(xyz, view, layout.axes, path)
    xyz = xyz.astype(np.float32)
    animals = tc.text_column(view, layout.animal, path)
    times = tc.time_column(view, layout.time, path) if has_time else None
    # time_column has checked that the column is all numbers or all date-times: one value says which.
    clock = "datetime" if has_time and pd.isna(pd.to_numeric(view[layout.time].iloc[0].strip(), errors="coerce")) \
        else "seconds"
    labels = None
    if has_labels:
        labels = np.array([index.get(v, UNLABELLED) for v in view[layout.label].str.strip()], dtype=np.int16)
    # Runs of consecutive rows of one animal.
    change = np.nonzero(animals[1:] != animals[:-1])[0] + 1
    bounds = [0, *change.tolist(), len(view)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        animal = str(animals[a])
        t = times[a:b] if times is not None else None
        cuts = [0]
        if t is not None:
            seg = open_.get(animal)
            if seg is not None and seg["last"] is not None:
                step = t[0] - seg["last"]
                if step <= 0:
                    raise DataError(str(path), "timestamp earlier than or equal to the animal's previous one",
                                    row=tc.line_of(view, a), column=layout.time)
                if step > GAP_PERIODS * period:
                    yield _close(open_.pop(animal), animal, layout, path)
            dt = np.diff(t)
            if (dt <= 0).any():
                i = int(np.argmax(dt <= 0)) + 1
                raise DataError(str(path), "timestamp earlier than or equal to the row before",
                                row=tc.line_of(view, a + i), column=layout.time)
            cuts += (np.nonzero(dt > GAP_PERIODS * period)[0] + 1).tolist()
        cuts.append(b - a)
        for c0, c1 in zip(cuts[:-1], cuts[1:]):
            if c0 > 0:  # a gap inside this run: close what is open
                yield _close(open_.pop(animal), animal, layout, path)
            seg = open_.setdefault(animal, {"start": 0.0 if t is None else float(t[c0]), "last": None, "x": [], "y": [],
                                            "clock": clock})
            seg["x"].append(xyz[a + c0:a + c1])
            if labels is not None:
                seg["y"].append(labels[a + c0:a + c1])
            seg["last"] = None if t is None else float(t[c1 - 1])


def _close(seg: dict, animal: str, layout: CsvLayout, path: Path) -> Segment:
    x = np.concatenate(seg["x"]) if seg["x"] else np.zeros((0, 3), np.float32)
    y = np.concatenate(seg["y"]) if seg["y"] else None
    return Segment(animal, seg["start"], float(layout.sample_rate), x, y, str(path), seg["clock"])
