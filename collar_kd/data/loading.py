"""One entry point from a data config to recordings and windows."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from collar_kd.config import DataConfig
from collar_kd.data.bout_folders import layout_names, load_layout, read_bout_folders
from collar_kd.data.class_maps import ClassMap, identity_class_map, load_class_map
from collar_kd.data.csv_reader import CsvLayout, read_csv_recordings
from collar_kd.data.frame import to_common_frame
from collar_kd.data.recordings import Recordings
from collar_kd.data.synthetic import DEFAULT_SETTINGS, SyntheticSettings, generate
from collar_kd.data.wasp import read_wasp_recordings
from collar_kd.data.windows import Windows, make_windows, parse_span, resample
from collar_kd.errors import ConfigError, DataError

def read_synthetic(cfg: DataConfig, class_map: ClassMap | None, seed: int) -> tuple[Recordings, ClassMap | None]:
    settings_file = Path(cfg.synthetic_settings) if cfg.synthetic_settings else DEFAULT_SETTINGS
    if not settings_file.is_file():
        raise DataError(str(settings_file), "synthetic settings file not found")
    return generate(SyntheticSettings.from_file(settings_file), seed=seed), class_map


def read_wasp(cfg: DataConfig, class_map: ClassMap | None, seed: int) -> tuple[Recordings, ClassMap | None]:
    return read_wasp_recordings(Path(cfg.path), class_map=class_map), class_map or load_class_map("wasp_default")


def read_bouts(cfg: DataConfig, class_map: ClassMap | None, seed: int) -> tuple[Recordings, ClassMap | None]:
    if not cfg.layout:
        raise ConfigError(f"data.layout: the bouts format needs a layout (shipped: {', '.join(layout_names())}; or a "
                          "layout JSON path)")
    layout = load_layout(cfg.layout)
    if class_map is None and layout.class_map:
        class_map = load_class_map(layout.class_map)
    return read_bout_folders(Path(cfg.path), layout, class_map), class_map


def read_csv(cfg: DataConfig, class_map: ClassMap | None, seed: int) -> tuple[Recordings, ClassMap | None]:
    if cfg.csv_sample_rate is None:
        raise ConfigError("data.csv_sample_rate: the csv format needs the rate the data was recorded at (Hz)")
    layout = CsvLayout(sample_rate=cfg.csv_sample_rate, animal=cfg.animal_column, axes=tuple(cfg.axis_columns),
                       label=cfg.label_column, time=cfg.time_column, units=cfg.units, counts_per_g=cfg.counts_per_g)
    return read_csv_recordings(Path(cfg.path), layout, class_map), class_map


# data.format -> reader(data config, class map or None, seed) -> (recordings, class map or None).
# A new format is a reader function and one line here.
READERS: dict[str, Callable[[DataConfig, ClassMap | None, int], tuple[Recordings, ClassMap | None]]] = {
    "synthetic": read_synthetic,
    "csv": read_csv,
    "wasp": read_wasp,
    "bouts": read_bouts,
}
FORMATS = tuple(READERS)


def load_recordings(cfg: DataConfig, seed: int = 0) -> tuple[Recordings, ClassMap]:
    """Read (or generate) the recordings a data config names, resampled to the model rate."""
    if cfg.format not in READERS:
        raise ConfigError(f"data.format: must be one of {', '.join(FORMATS)}, not '{cfg.format}'")
    rec, class_map = READERS[cfg.format](cfg, load_class_map(cfg.class_map) if cfg.class_map else None, seed)
    if class_map is None:
        class_map = identity_class_map(rec.labels)
    if cfg.sample_rate is not None:
        rec = resample(rec, cfg.sample_rate)
    return rec, class_map


def windows_for(rec: Recordings, classes: tuple[str, ...], window: str, stride: str, frame: str = "sensor") -> Windows:
    """The recordings cut into windows, in the sensor frame or each animal's own (data.frame)."""
    length = parse_span(window, rec.sample_rate, "data.window")
    step = parse_span(stride, rec.sample_rate, "data.stride")
    return to_common_frame(make_windows(rec, classes, length, step), frame)
