"""Data ingest: readers (generic CSV, WASP per-bout CSV, synthetic), resampling, windowing."""

from collar_kd.data.loading import load_recordings, windows_for  # noqa: F401
