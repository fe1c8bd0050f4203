"""Acceleration units accepted on input; everything is converted to g."""

from __future__ import annotations

import numpy as np

from collar_kd.config import UNITS
from collar_kd.data.recordings import STANDARD_GRAVITY
from collar_kd.errors import ConfigError

__all__ = ["UNITS", "to_g"]


def to_g(values: np.ndarray, units: str, counts_per_g: float | None = None) -> np.ndarray:
    if units == "g":
        return values
    if units == "m/s2":
        return values / STANDARD_GRAVITY
    if units == "counts":
        if counts_per_g is None or not counts_per_g > 0:
            raise ConfigError("units 'counts' needs counts_per_g > 0 (raw counts per g of the sensor range)")
        return values / counts_per_g
    raise ConfigError(f"units must be one of {', '.join(UNITS)}, not '{units}'")
