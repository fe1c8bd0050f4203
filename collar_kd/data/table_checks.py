"""Validation shared by the CSV readers: every error names the file, the line and the column.

Line numbers are the file's own (the header is line 1, the first data row line 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from collar_kd.errors import DataError

HEADER_LINES = 1


def line_of(index: int) -> int:
    return int(index) + HEADER_LINES + 1


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV as strings (we convert and check each column ourselves)."""
    try:
        if path.stat().st_size == 0:
            raise DataError(str(path), "file is empty")
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(str(path), "file is empty") from None
    except pd.errors.ParserError as e:
        raise DataError(str(path), f"not a well-formed CSV: {e}") from None
    except UnicodeDecodeError:
        raise DataError(str(path), "not a text CSV file (cannot decode as UTF-8)") from None
    df.columns = [c.strip() for c in df.columns]
    if len(df) == 0:
        raise DataError(str(path), "file has a header but no data rows")
    return df


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
        raise DataError(str(path), kind, row=line_of(i), column=column)
    return values


def text_column(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = df[column].str.strip().to_numpy()
    empty = values == ""
    if empty.any():
        raise DataError(str(path), "empty value", row=line_of(int(np.argmax(empty))), column=column)
    return values


def time_column(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Timestamps in seconds (float64): plain numbers are seconds, anything else is parsed as a date-time."""
    raw = df[column].str.strip()
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        secs = numeric.to_numpy(dtype=np.float64)
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(str(path), f"'{raw.iloc[i]}' is not a timestamp", row=line_of(i), column=column)
        secs = (parsed - parsed.iloc[0]).dt.total_seconds().to_numpy(dtype=np.float64)
    if not np.isfinite(secs).all():
        i = int(np.argmax(~np.isfinite(secs)))
        raise DataError(str(path), "timestamp is not finite", row=line_of(i), column=column)
    return secs


def check_timestamps(times: np.ndarray, rows: np.ndarray, sample_rate: float, path: Path, column: str) -> np.ndarray:
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
        raise DataError(str(path), f"timestamp {what}", row=line_of(int(rows[i])), column=column)
    period = 1.0 / sample_rate
    median = float(np.median(dt))
    if abs(median - period) > 0.02 * period:
        raise DataError(
            str(path),
            f"timestamps step {median:.6g} s (= {1.0 / median:.4g} Hz) but the sample rate given is {sample_rate:g} Hz",
            column=column,
        )
    # A step of more than 1.5 periods is a gap: windows must not span it.
    return np.nonzero(dt > 1.5 * period)[0] + 1
