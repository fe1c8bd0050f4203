"""From classified windows to what researchers publish: bouts and daily time budgets.

Every window *claims* the stride-long stretch of time centred on its own centre, so consecutive
windows tile their segment without overlap: the first window's claim reaches back to the
segment's start, the last one's forward to the window's end. Time no window claims (a segment
shorter than one window, the tail after the last window) is *unclassified*; time without data
is *no data*. Days are the timestamps' own calendar days (UTC when they carry a time-zone
offset); data timed in plain seconds counts days from second 0 (day 1, day 2, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_S = 86_400.0


@dataclass
class ClassifiedSegment:
    animal: str
    clock: str  # "datetime" | "seconds"
    start: float  # segment start, seconds
    end: float  # segment end, seconds
    window_starts: np.ndarray  # (n,) seconds
    window_seconds: float
    stride_seconds: float
    classes: np.ndarray  # (n,) smoothed class index
    raw_classes: np.ndarray  # (n,) the model's own class index
    probabilities: np.ndarray  # (n, K)
    labels: np.ndarray | None  # (n,) window label (majority of its samples), -1 unknown

    def claims(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.window_starts)
        if n == 0:
            return np.zeros(0), np.zeros(0)
        centre = self.window_starts + self.window_seconds / 2
        lo = centre - self.stride_seconds / 2
        hi = centre + self.stride_seconds / 2
        lo[0] = self.start
        hi[-1] = self.window_starts[-1] + self.window_seconds
        return lo, hi


def format_time(t: float, clock: str) -> str:
    if clock == "datetime":
        return pd.Timestamp(round(t * 1000), unit="ms").isoformat(timespec="milliseconds")
    return f"{t:.3f}"


def day_of(t: float, clock: str) -> str:
    d = int(np.floor(t / DAY_S))
    if clock == "datetime":
        return pd.Timestamp(d * DAY_S, unit="s").date().isoformat()
    return f"day {d + 1}"


def bouts_table(segments: list[ClassifiedSegment], class_names: list[str]) -> pd.DataFrame:
    rows = []
    for seg in segments:
        lo, hi = seg.claims()
        if not len(lo):
            continue
        change = np.nonzero(seg.classes[1:] != seg.classes[:-1])[0] + 1
        bounds = [0, *change.tolist(), len(seg.classes)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows.append({"animal": seg.animal, "behaviour": class_names[int(seg.classes[a])],
                         "start": format_time(lo[a], seg.clock), "end": format_time(hi[b - 1], seg.clock),
                         "duration_s": round(float(hi[b - 1] - lo[a]), 3), "windows": b - a})
    return pd.DataFrame(rows, columns=["animal", "behaviour", "start", "end", "duration_s", "windows"])


def _split_by_day(lo: float, hi: float) -> list[tuple[int, float]]:
    """(day index, seconds) pieces of [lo, hi)."""
    out = []
    while hi > lo:
        day = int(np.floor(lo / DAY_S))
        edge = min(hi, (day + 1) * DAY_S)
        out.append((day, edge - lo))
        lo = edge
    return out


def budgets_table(segments: list[ClassifiedSegment], class_names: list[str]) -> pd.DataFrame:
    """Minutes per behaviour per animal and calendar day, plus unclassified and no-data minutes
    (the day's 1440 minutes are always accounted for)."""
    acc: dict[tuple[str, int, str], np.ndarray] = {}
    k = len(class_names)
    for seg in segments:
        clock_key = seg.clock
        lo, hi = seg.claims()
        for i in range(len(lo)):
            for day, secs in _split_by_day(lo[i], hi[i]):
                acc.setdefault((seg.animal, day, clock_key), np.zeros(k + 1))[int(seg.classes[i])] += secs
        unclassified = [(seg.start, seg.end)] if not len(lo) else [(hi[-1], seg.end)]
        for a, b in unclassified:
            for day, secs in _split_by_day(a, b):
                acc.setdefault((seg.animal, day, clock_key), np.zeros(k + 1))[k] += secs
    rows = []
    for (animal, day, clock), secs in sorted(acc.items()):
        minutes = secs / 60.0
        row = {"animal": animal, "day": day_of(day * DAY_S, clock)}
        row.update({f"minutes_{c}": round(float(minutes[i]), 3) for i, c in enumerate(class_names)})
        row["minutes_unclassified"] = round(float(minutes[k]), 3)
        row["minutes_no_data"] = round(max(0.0, 1440.0 - float(minutes.sum())), 3)
        rows.append(row)
    columns = ["animal", "day", *[f"minutes_{c}" for c in class_names], "minutes_unclassified", "minutes_no_data"]
    return pd.DataFrame(rows, columns=columns)


def windows_table(segments: list[ClassifiedSegment], class_names: list[str], with_labels: bool) -> pd.DataFrame:
    frames = []
    for seg in segments:
        if not len(seg.window_starts):
            continue
        d = {"animal": seg.animal,
             "start": [format_time(t, seg.clock) for t in seg.window_starts],
             "end": [format_time(t + seg.window_seconds, seg.clock) for t in seg.window_starts],
             "class": [class_names[int(c)] for c in seg.classes],
             "class_unsmoothed": [class_names[int(c)] for c in seg.raw_classes]}
        for i, c in enumerate(class_names):
            d[f"p_{c}"] = np.round(seg.probabilities[:, i], 5)
        if with_labels:
            d["label"] = ["" if seg.labels is None or v < 0 else class_names[int(v)] for v in
                          (seg.labels if seg.labels is not None else np.full(len(seg.window_starts), -1))]
        frames.append(pd.DataFrame(d))
    columns = ["animal", "start", "end", "class", "class_unsmoothed", *[f"p_{c}" for c in class_names]] + \
        (["label"] if with_labels else [])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
