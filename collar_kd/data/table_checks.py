"""Validation shared by the CSV readers: every error names the file, the line and the column.

Line numbers are the file's physical lines (the header is line 1): blank lines and quoted
fields that span several lines are counted, so an editor's "go to line" finds the row.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from collar_kd.errors import DataError

# No accelerometer reports more than this; a larger value is a unit or parsing error (and
# would overflow float32 on the way to the model).
MAX_PLAUSIBLE_G = 1000.0


def line_of(df: pd.DataFrame, index: int) -> int:
    """The physical line of the file (1-based) where data row `index` of `df` starts."""
    lines = df.attrs.get("lines")
    if lines is None:
        lines = df.attrs["lines"] = _record_lines(Path(df.attrs["path"]), len(df))
    return int(lines[int(index)])


def _record_lines(path: Path, n_rows: int) -> np.ndarray:
    raw = path.read_bytes()
    if raw.count(b"\n") + (not raw.endswith(b"\n")) == n_rows + 1:
        return np.arange(n_rows) + 2  # one line per row, no blank lines: the common case
    starts = _record_lines_upto(path, n_rows)
    if len(starts) != n_rows:  # a dialect pandas read differently: fall back to row counting
        return np.arange(n_rows) + 2
    return np.asarray(starts)


class _LazyLines:
    """Physical lines of data rows first..first+n-1, found by scanning the file only when a
    message needs one (streamed files are never scanned twice otherwise)."""

    def __init__(self, path: Path, first: int, n: int):
        self.path, self.first, self.n, self.lines = path, first, n, None

    def __getitem__(self, i: int) -> int:
        if self.lines is None:
            self.lines = _record_lines_upto(self.path, self.first + self.n)[self.first:]
        return int(self.lines[i]) if i < len(self.lines) else self.first + i + 2


def physical_lines_from(path: Path, first: int, n: int) -> _LazyLines:
    return _LazyLines(Path(path), first, n)


def _record_lines_upto(path: Path, n_rows: int) -> list[int]:
    """Start lines of the first n_rows data rows. Like pandas: blank lines are skipped, a quoted
    field may hold line breaks."""
    starts = []
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        before = 0
        for record in reader:
            if record and any(x.strip() for x in record):
                starts.append(before + 1)
                if len(starts) > n_rows:
                    break
            before = reader.line_num
    return starts[1:]


@contextmanager
def csv_errors(path: Path):
    """What reading a CSV can raise, as a DataError naming the file."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise DataError(str(path), "file is empty") from None
    except pd.errors.ParserError as e:
        raise DataError(str(path), f"not a well-formed CSV: {e}") from None
    except UnicodeDecodeError:
        raise DataError(str(path), "not a text CSV file (cannot decode as UTF-8)") from None
    except OSError as e:
        raise DataError(str(path), f"cannot read: {e.strerror}") from None


def checked_header(path: Path) -> list[str]:
    """The header's column names; a name that appears twice is an error (pandas would rename
    the second 'name.1' and read the first silently)."""
    with csv_errors(path):
        header = read_header(path)
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(str(path), f"column '{name}' appears twice in the header", row=1, column=name)
        seen.add(name)
    return header


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV as strings (we convert and check each column ourselves)."""
    with csv_errors(path):
        if path.stat().st_size == 0:
            raise DataError(str(path), "file is empty")
        checked_header(path)
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    df.columns = [c.strip() for c in df.columns]
    df.attrs["path"] = str(path)
    if len(df) == 0:
        raise DataError(str(path), "file has a header but no data rows")
    return df


def read_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        for record in csv.reader(f):
            if record:
                return [c.strip() for c in record]
    return []


def check_acceleration(xyz_g: np.ndarray, df: pd.DataFrame, columns, path: Path) -> None:
    """Values beyond MAX_PLAUSIBLE_G (after conversion to g) are errors naming their line."""
    bad = ~(np.abs(xyz_g) <= MAX_PLAUSIBLE_G)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(str(path), f"value {df[columns[j]].iloc[i].strip()} is {abs(float(xyz_g[i, j])):.3g} g, beyond any "
                        f"accelerometer's range (at most {MAX_PLAUSIBLE_G:g} g): check the units", row=line_of(df, i),
                        column=columns[j])


def require_columns(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            str(path),
            f"missing column(s) {', '.join(repr(c) for c in missing)}; the file has: {', '.join(df.columns)}",
        )


def numeric_column(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Convert a column to float64; non-numeric, empty, NaN or infinite values are errors."""
    raw = df[column].str.strip()
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        text = raw.iloc[i]
        kind = "empty value" if text == "" else f"value '{text}' is not a finite number"
        raise DataError(str(path), kind, row=line_of(df, i), column=column)
    return values


def text_column(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = df[column].str.strip().to_numpy()
    empty = values == ""
    if empty.any():
        raise DataError(str(path), "empty value", row=line_of(df, int(np.argmax(empty))), column=column)
    return values


def time_column(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Timestamps in seconds (float64): plain numbers are seconds, anything else is parsed as a
    date-time and given as seconds since the Unix epoch."""
    raw = df[column].str.strip()
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        secs = numeric.to_numpy(dtype=np.float64)
    else:
        # Offsets (+01:00, Z) put every row on one UTC timeline, so a daylight-saving change
        # inside a file is no jump. Rows with and without an offset cannot be compared.
        aware = raw.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).to_numpy()
        if aware.any() and not aware.all():
            i = int(np.argmax(aware != aware[0]))
            raise DataError(str(path), f"'{raw.iloc[i]}' {'has' if aware[i] else 'has no'} time-zone offset, unlike line "
                            f"{line_of(df, 0)}: give every timestamp an offset, or none", row=line_of(df, i), column=column)
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed", utc=True)
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(str(path), f"'{raw.iloc[i]}' is not a timestamp", row=line_of(df, i), column=column)
        # Seconds since the Unix epoch (UTC for offsets; naive date-times are taken as they are).
        secs = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    if not np.isfinite(secs).all():
        i = int(np.argmax(~np.isfinite(secs)))
        raise DataError(str(path), "timestamp is not finite", row=line_of(df, i), column=column)
    return secs


def check_timestamps(times: np.ndarray, rows: np.ndarray, sample_rate: float, df: pd.DataFrame, column: str) -> np.ndarray:
    """Check one animal's timestamps; return indices (into `times`) where a gap starts a new bout.

    Duplicated or decreasing timestamps are errors, and so is a median step that disagrees
    with the sample rate given by more than 2 %.
    """
    if len(times) < 2:
        return np.zeros(0, dtype=np.int64)
    dt = np.diff(times)
    nonpos = dt <= 0
    if nonpos.any():
        i = int(np.argmax(nonpos)) + 1
        what = "duplicated" if dt[i - 1] == 0 else "earlier than the row before (not monotonic)"
        raise DataError(df.attrs["path"], f"timestamp {what}", row=line_of(df, int(rows[i])), column=column)
    period = 1.0 / sample_rate
    median = float(np.median(dt))
    if abs(median - period) > 0.02 * period:
        raise DataError(
            df.attrs["path"],
            f"timestamps step {median:.6g} s (= {1.0 / median:.4g} Hz) but the sample rate given is {sample_rate:g} Hz",
            column=column,
        )
    # A step of more than 1.5 periods is a gap: windows must not span it.
    return np.nonzero(dt > 1.5 * period)[0] + 1
