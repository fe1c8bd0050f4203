"""Per-bout folder layouts: one CSV per labelled bout somewhere under a data folder, the animal
and behaviour (and optionally date, time, a running number) in the file's path.

A layout is data, not code (`data/layouts/*.json`, or any JSON file):

    {"pattern": "^[^/]+/(?P<behaviour>.+)_(?P<animal>\\d+)_(?P<date>\\d{8})_(?P<time>\\d{1,6})\\.csv$",
     "time_column": "TIME", "axis_columns": ["BNO055_ax_body", "BNO055_ay_body", "BNO055_az_body"],
     "units": "m/s2", "sample_rate": 10.0, "unmatched": "error"}

Only CSV files are considered (other files are the dataset's documents); `ignore` lists
patterns of CSV files that are documents too (an index). `pattern` is a regular expression matched against the path relative to the data folder, with
'/' between folders. Named groups: `animal` and `behaviour` (required), `event` (a running
number: files are read in folder, event order), `date` and `time` (unpadded times such as
73640 = 07:36:40 are allowed; files are read in date-time order). CSV files (any case of
'.csv') that do not match are an error naming the file (`"unmatched": "error"`) or counted
and reported (`"skip"`). Symbolic links to directories are not followed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from collar_kd.data import table_checks as tc
from collar_kd.data.class_maps import ClassMap
from collar_kd.data.recordings import Bout, Recordings
from collar_kd.data.units import UNITS, to_g
from collar_kd.errors import ConfigError, DataError
from collar_kd.paths import PROJECT_DATA

LAYOUT_DIR = PROJECT_DATA / "layouts"
UNMATCHED = ("error", "skip")


@dataclass(frozen=True)
class BoutFolderLayout:
    pattern: str
    axis_columns: tuple[str, str, str]
    sample_rate: float
    time_column: str | None = None
    units: str = "g"
    counts_per_g: float | None = None
    unmatched: str = "error"
    ignore: tuple[str, ...] = ()  # patterns of CSV files that are the dataset's own documents, never read
    class_map: str | None = None  # the class map to use when none is given
    description: str = ""
    name: str = field(default="custom", compare=False)

    def check(self, where: str) -> "BoutFolderLayout":
        try:
            regex = re.compile(self.pattern)
        except re.error as e:
            raise ConfigError(f"{where}: pattern is not a regular expression ({e})") from None
        missing = {"animal", "behaviour"} - set(regex.groupindex)
        if missing:
            raise ConfigError(f"{where}: pattern needs the named group(s) {', '.join(sorted(missing))}, "
                              "for example (?P<animal>\\d+)")
        if len(self.axis_columns) != 3:
            raise ConfigError(f"{where}: axis_columns needs exactly three names (x, y, z)")
        if self.units not in UNITS:
            raise ConfigError(f"{where}: units must be one of {', '.join(UNITS)}, not '{self.units}'")
        if not (isinstance(self.sample_rate, (int, float)) and 0 < self.sample_rate < 100_000):
            raise ConfigError(f"{where}: sample_rate must be a positive number of Hz, not {self.sample_rate}")
        for p in self.ignore:
            try:
                re.compile(p)
            except re.error as e:
                raise ConfigError(f"{where}: ignore pattern '{p}' is not a regular expression ({e})") from None
        if self.unmatched not in UNMATCHED:
            raise ConfigError(f"{where}: unmatched must be 'error' or 'skip', not '{self.unmatched}'")
        return self


def load_layout(name_or_path: str) -> BoutFolderLayout:
    """A shipped layout by name (data/layouts/NAME.json) or a layout JSON file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = LAYOUT_DIR / f"{name_or_path}.json"
    if not path.is_file():
        shipped = ", ".join(layout_names())
        raise ConfigError(f"data.layout: '{name_or_path}' is neither a shipped layout ({shipped}) nor a JSON file")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(str(path), f"invalid JSON: {e.msg}", row=e.lineno) from None
    known = {f.name for f in fields(BoutFolderLayout)} - {"name"}
    if not isinstance(doc, dict) or set(doc) - known:
        raise ConfigError(f"{path}: a layout is an object with the keys {', '.join(sorted(known))}"
                          + (f"; unknown: {', '.join(sorted(set(doc) - known))}" if isinstance(doc, dict) else ""))
    for key in ("pattern", "axis_columns", "sample_rate"):
        if key not in doc:
            raise ConfigError(f"{path}: layout needs '{key}'")
    doc["axis_columns"] = tuple(doc["axis_columns"])
    doc["ignore"] = tuple(doc.get("ignore", ()))
    return BoutFolderLayout(**doc, name=path.stem).check(str(path))


def layout_names() -> list[str]:
    return sorted(p.stem for p in LAYOUT_DIR.glob("*.json"))


def _csv_files(root: Path) -> list[Path]:
    files = []
    for folder, _, names in os.walk(root):  # does not follow symbolic links to directories
        files += [Path(folder) / n for n in names if n.lower().endswith(".csv")]
    return files


def _order(match: re.Match, rel: str) -> tuple:
    g = match.groupdict()
    event = int(g["event"]) if g.get("event") and g["event"].isdigit() else -1
    when = (g.get("date") or "") + (g.get("time") or "").zfill(6)
    return rel.split("/")[0], event, when, rel


def read_bout_folders(root: Path, layout: BoutFolderLayout, class_map: ClassMap | None = None) -> Recordings:
    root = Path(root)
    if not root.is_dir():
        raise DataError(str(root), f"the '{layout.name}' layout needs a directory of per-bout CSV files")
    regex = re.compile(layout.pattern)
    ignored = [re.compile(p) for p in layout.ignore]
    matched, unmatched = [], []
    for path in _csv_files(root):
        rel = path.relative_to(root).as_posix()
        if any(i.match(rel) for i in ignored):
            continue
        m = regex.match(rel)
        (matched.append((_order(m, rel), path, m)) if m else unmatched.append(rel))
    if unmatched and layout.unmatched == "error":
        raise DataError(str(root / sorted(unmatched)[0]), f"path does not match the '{layout.name}' layout's pattern "
                        f"{layout.pattern} ({len(unmatched)} such file(s); set \"unmatched\": \"skip\" in the layout to "
                        "count and skip them)")
    if not matched:
        raise DataError(str(root), f"no CSV file matches the '{layout.name}' layout's pattern {layout.pattern}")
    rec = Recordings(bouts=[], sample_rate=float(layout.sample_rate), source=str(root))
    if unmatched:
        rec.count_dropped(f"CSV files that do not match the layout's pattern (not read; first: {sorted(unmatched)[0]})",
                          len(unmatched))
    for _, path, m in sorted(matched, key=lambda t: t[0]):
        raw = m["behaviour"]
        label = raw if class_map is None else class_map.resolve(raw, str(path))
        if label is None:
            rec.count_dropped("bouts with a label the class map drops")
            continue
        rec.bouts.extend(_read_bout(path, m["animal"], label, layout, rec))
    if not rec.bouts:
        raise DataError(str(root), "no bouts left after applying the class map")
    return rec


def _read_bout(path: Path, animal: str, label: str, layout: BoutFolderLayout, rec: Recordings) -> list[Bout]:
    df = tc.read_table(path)
    columns = [*layout.axis_columns] + ([layout.time_column] if layout.time_column else [])
    tc.require_columns(df, columns, path)
    xyz = to_g(np.stack([tc.numeric_column(df, c, path) for c in layout.axis_columns], axis=1), layout.units,
               layout.counts_per_g)
    tc.check_acceleration(xyz, df, layout.axis_columns, path)
    xyz = xyz.astype(np.float32)
    if layout.time_column is None:
        return [Bout(animal=animal, label=label, samples=xyz, source=str(path))]
    times = tc.time_column(df, layout.time_column, path)
    gaps = tc.check_timestamps(times, np.arange(len(df)), layout.sample_rate, df, layout.time_column)
    if len(gaps):
        rec.count_dropped("timestamp gaps that split a bout", len(gaps))
    bounds = [0, *gaps.tolist(), len(df)]
    return [Bout(animal=animal, label=label, samples=xyz[a:b], source=str(path), start=float(times[a]))
            for a, b in zip(bounds[:-1], bounds[1:])]
