"""Errors that reach the user as a clear message and exit status 2 from the CLI."""


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
    """A run directory that is missing, incomplete or from an incompatible version."""


class TrainingDiverged(CollarKDError):
    """A loss became NaN or infinite: nothing is saved (the run directory is not written)."""
