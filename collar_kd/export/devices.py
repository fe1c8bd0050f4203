"""Device profiles are data (data/devices/*.json): add a JSON file to add a device."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from collar_kd.errors import ConfigError
from collar_kd.paths import PROJECT_DATA

DEVICE_DIR = PROJECT_DATA / "devices"


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    cpu: str  # cortex-m3 | cortex-m4
    qemu_machine: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    dsp: bool
    model_flash_budget_bytes: int
    model_ram_budget_bytes: int
    sample_rate_hz: float

    @property
    def gcc_flags(self) -> list[str]:
        if self.cpu == "cortex-m4":
            return ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
        return [f"-mcpu={self.cpu}", "-mthumb", "-mfloat-abi=soft"]


def device_names() -> list[str]:
    return sorted(p.stem for p in DEVICE_DIR.glob("*.json"))


def load_device(name_or_path: str) -> DeviceProfile:
    path = Path(name_or_path)
    if not path.suffix:
        path = DEVICE_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise ConfigError(f"target: unknown device '{name_or_path}' (profiles: {', '.join(device_names())})")
    doc = json.loads(path.read_text())
    fields = DeviceProfile.__dataclass_fields__
    missing = [k for k in fields if k not in doc]
    if missing:
        raise ConfigError(f"{path}: device profile lacks {', '.join(missing)}")
    unknown = [k for k in doc if k not in fields]
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}")
    if doc["cpu"] not in ("cortex-m3", "cortex-m4"):
        raise ConfigError(f"{path}: cpu must be cortex-m3 or cortex-m4")
    return DeviceProfile(**doc)
