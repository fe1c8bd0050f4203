"""Errors that reach the user as a clear message and exit status 2 from the CLI."""

from contextlib import contextmanager


class CollarKDError(Exception):
    """Base class for errors caused by the user's input (data, config, usage)."""


class DataError(CollarKDError):
    """Bad input data. The message names the file and, where known, the row or column."""

    def __init__(self, source: str, message: str, row: int | None = None, column: str | None = None):
        where = str(source)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")
        self.source = str(source)
        self.row = row
        self.column = column


class ConfigError(CollarKDError):
    """A bad configuration value; the message names the field."""


class RunDirError(CollarKDError):
    """A run or export directory that is missing, incomplete or from an incompatible version."""


class TrainingDiverged(CollarKDError):
    """A loss became NaN or infinite: nothing is saved (the run directory is not written)."""


class FileFormatError(CollarKDError):
    """A file collar-kd wrote earlier (model, golden vectors, quantized model) that is missing,
    truncated, corrupted or of a foreign format. The message names the file."""


@contextmanager
def reading(path, what: str):
    """Turn any failure while reading `path` (a `what`) into a FileFormatError naming it, so a
    truncated or foreign file is a message, never a traceback."""
    try:
        yield
    except CollarKDError:
        raise
    except FileNotFoundError:
        raise FileFormatError(f"{path}: missing ({what})") from None
    except Exception as e:  # noqa: BLE001 - every decoder's own error type means the same thing here
        raise FileFormatError(f"{path}: not a valid {what} (truncated, corrupted or not written by collar-kd: "
                              f"{type(e).__name__}: {str(e)[:200]})") from None
