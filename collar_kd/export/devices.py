"""Device profiles are data (data/devices/*.json): add a JSON file to add a device.

A profile names the core (QEMU's -cpu), the QEMU machine that emulates a board with it, the
compiler flags for the core, whether the DSP (SMLAD) path may be used, the part's memory and
the budget the model may take. `collar-kd export --target NAME|PATH.json` and `collar-kd verify`
take every profile in data/devices by name, and any other profile by its path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from collar_kd.errors import ConfigError
from collar_kd.paths import PROJECT_DATA

DEVICE_DIR = PROJECT_DATA / "devices"


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    cpu: str  # QEMU's -cpu, e.g. cortex-m3, cortex-m4, cortex-m7
    qemu_machine: str
    gcc_flags: tuple[str, ...]  # core, instruction set and float ABI for arm-none-eabi-gcc
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    dsp: bool  # the core has the DSP extension: the SMLAD kernels may be used
    model_flash_budget_bytes: int
    model_ram_budget_bytes: int
    sample_rate_hz: float
    # For the energy estimate of `make bench-mcu` (optional): active_current_ua_per_mhz, supply_v,
    # windows_per_day, battery_mah and where the figures come from (source).
    energy: dict | None = None


ENERGY_FIELDS = {"active_current_ua_per_mhz": (int, float), "supply_v": (int, float), "windows_per_day": (int, float),
                 "battery_mah": (int, float), "source": str}


_TYPES = {"name": str, "description": str, "cpu": str, "qemu_machine": str, "gcc_flags": list, "clock_hz": int,
          "flash_bytes": int, "ram_bytes": int, "dsp": bool, "model_flash_budget_bytes": int,
          "model_ram_budget_bytes": int, "sample_rate_hz": (int, float)}


def device_names() -> list[str]:
    return sorted(p.stem for p in DEVICE_DIR.glob("*.json"))


def load_device(name_or_path: str) -> DeviceProfile:
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = DEVICE_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise ConfigError(f"target: unknown device '{name_or_path}' (profiles: {', '.join(device_names())}, or a profile's .json path)")
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a readable JSON device profile ({e})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a device profile is a JSON object")
    names = [f.name for f in fields(DeviceProfile)]
    missing = [k for k in names if k not in doc and k != "energy"]
    if missing:
        raise ConfigError(f"{path}: device profile lacks {', '.join(missing)}")
    unknown = [k for k in doc if k not in names]
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}")
    for key, kind in _TYPES.items():
        value = doc[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"{path}: field '{key}' has the wrong type ({value!r})")
    if not doc["gcc_flags"] or not all(isinstance(f, str) and f.startswith("-m") for f in doc["gcc_flags"]):
        raise ConfigError(f"{path}: field 'gcc_flags' must list machine options such as \"-mcpu=cortex-m4\"")
    for key in ("clock_hz", "flash_bytes", "ram_bytes", "model_flash_budget_bytes", "model_ram_budget_bytes", "sample_rate_hz"):
        if not doc[key] > 0:
            raise ConfigError(f"{path}: field '{key}' must be positive, not {doc[key]}")
    energy = doc.get("energy")
    if energy is not None:
        if not isinstance(energy, dict) or set(energy) != set(ENERGY_FIELDS):
            raise ConfigError(f"{path}: field 'energy' must be an object with {', '.join(ENERGY_FIELDS)}")
        for key, kind in ENERGY_FIELDS.items():
            if not isinstance(energy[key], kind) or isinstance(energy[key], bool) or (kind is not str and not energy[key] > 0):
                raise ConfigError(f"{path}: field 'energy.{key}' must be {'text' if kind is str else 'a positive number'}")
    return DeviceProfile(**{**doc, "gcc_flags": tuple(doc["gcc_flags"])})
