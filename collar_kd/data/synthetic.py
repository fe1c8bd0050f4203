"""Built-in synthetic collar accelerometry: the default data of the demo and the tests.

Each behaviour has a head posture (the direction of gravity in the collar frame) and a
rhythm: bites and head sweeps when grazing, a lateral jaw rhythm when ruminating, breathing
when resting, a stride with a vertical double bounce when walking. Every animal wears its
collar rotated a little differently (roll around the neck, some pitch) and has its own
rhythm rates. Noise is added and the signal clips at the sensor range. The same seed gives
the same data, bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from collar_kd.data.recordings import Bout, Recordings
from collar_kd.errors import ConfigError
from collar_kd.paths import PROJECT_DATA

DEFAULT_SETTINGS = PROJECT_DATA / "synthetic" / "default.json"
KNOWN_CLASSES = ("grazing", "ruminating", "resting", "walking")
# Head pitch and roll (degrees) of each posture; grazing is head down, resting lying with a tilt.
POSTURE = {"grazing": (-55.0, 0.0), "ruminating": (5.0, 0.0), "resting": (15.0, 25.0), "walking": (-15.0, 0.0)}


@dataclass(frozen=True)
class SyntheticSettings:
    animals: int = 6
    bouts_per_class: int = 3
    bout_seconds: tuple[float, float] = (20.0, 50.0)
    sample_rate: float = 25.0
    range_g: float = 2.0
    noise_g: float = 0.03
    classes: tuple[str, ...] = field(default=KNOWN_CLASSES)

    @classmethod
    def from_file(cls, path: Path = DEFAULT_SETTINGS, **overrides) -> "SyntheticSettings":
        doc = json.loads(Path(path).read_text())
        doc.pop("description", None)
        doc.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(doc) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{path}: unknown synthetic setting(s) {', '.join(sorted(unknown))}")
        doc["bout_seconds"] = tuple(doc.get("bout_seconds", cls.bout_seconds))
        doc["classes"] = tuple(doc.get("classes", KNOWN_CLASSES))
        settings = cls(**doc)
        settings.validate()
        return settings

    def validate(self) -> None:
        bad = [c for c in self.classes if c not in KNOWN_CLASSES]
        if bad:
            raise ConfigError(f"synthetic classes {bad} unknown; known: {', '.join(KNOWN_CLASSES)}")
        if self.animals < 1 or self.bouts_per_class < 1 or self.sample_rate <= 0:
            raise ConfigError("synthetic: animals, bouts_per_class and sample_rate must be positive")
        lo, hi = self.bout_seconds
        if not 0 < lo <= hi:
            raise ConfigError("synthetic: bout_seconds must be [min, max] with 0 < min <= max")


def _rotation(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _gravity(pitch_deg: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    return np.stack([-np.sin(p), np.cos(p) * np.sin(r), np.cos(p) * np.cos(r)], axis=-1)


def _phase(rng: np.random.Generator, rate_hz: float, n: int, fs: float, jitter: float = 0.05) -> np.ndarray:
    """A rhythm's phase (radians) whose rate wanders a little, like a real animal's."""
    wander = np.cumsum(rng.normal(0.0, jitter * rate_hz / np.sqrt(fs), n))
    return 2 * np.pi * np.cumsum(rate_hz + wander) / fs + rng.uniform(0, 2 * np.pi)


def _bout(rng: np.random.Generator, behaviour: str, rates: dict[str, float], n: int, fs: float) -> np.ndarray:
    """Body acceleration (gravity included) in the head frame, before the collar's own rotation."""
    pitch0, roll0 = POSTURE[behaviour]
    t = np.arange(n) / fs
    pitch = np.full(n, pitch0 + rng.normal(0, 4))
    roll = np.full(n, roll0 + rng.normal(0, 4))
    dyn = np.zeros((n, 3))
    if behaviour == "grazing":
        bite = _phase(rng, rates["bite"], n, fs)
        pitch += 10 * np.sin(_phase(rng, 0.2, n, fs))  # sweeping the sward
        pulse = np.maximum(np.sin(bite), 0) ** 4  # a short tug at each bite
        dyn[:, 0] += 0.18 * pulse
        dyn[:, 2] += 0.08 * pulse
        step_every = rng.uniform(3, 7)  # a step forward every few seconds
        dyn[:, 2] += 0.12 * np.exp(-(((t % step_every) - 0.3) ** 2) / 0.02)
    elif behaviour == "ruminating":
        chew = _phase(rng, rates["chew"], n, fs)
        dyn[:, 1] += 0.05 * np.sin(chew)
        dyn[:, 0] += 0.02 * np.sin(2 * chew)
        cycle = rng.uniform(40, 60)  # pause to swallow and bring up a new bolus
        dyn *= ((t % cycle) > 4)[:, None]
    elif behaviour == "resting":
        dyn[:, 2] += 0.01 * np.sin(_phase(rng, rates["breath"], n, fs))
    elif behaviour == "walking":
        stride = _phase(rng, rates["stride"], n, fs)
        dyn[:, 2] += 0.28 * np.sin(2 * stride) + 0.08 * np.sin(4 * stride)  # a bounce per footfall
        dyn[:, 1] += 0.12 * np.sin(stride)  # lateral sway
        dyn[:, 0] += 0.10 * np.sin(2 * stride + 0.7)
        pitch += 6 * np.sin(2 * stride)  # head bob
    return _gravity(pitch, roll) + dyn


def generate(settings: SyntheticSettings, seed: int = 0) -> Recordings:
    rng = np.random.default_rng(seed)
    fs = settings.sample_rate
    rec = Recordings(bouts=[], sample_rate=fs, source=f"synthetic(seed={seed})")
    for a in range(settings.animals):
        animal = f"A{a + 1:02d}"
        # How this animal wears its collar, and its own rhythm rates.
        mount = _rotation(np.radians(rng.normal(0, 20)), np.radians(rng.normal(0, 8)), np.radians(rng.normal(0, 10)))
        rates = {
            "bite": rng.uniform(0.9, 1.4),
            "chew": rng.uniform(0.8, 1.2),
            "breath": rng.uniform(0.2, 0.35),
            "stride": rng.uniform(0.8, 1.1),
        }
        schedule = [c for c in settings.classes for _ in range(settings.bouts_per_class)]
        for k in rng.permutation(len(schedule)):
            behaviour = schedule[k]
            n = int(round(rng.uniform(*settings.bout_seconds) * fs))
            acc = _bout(rng, behaviour, rates, n, fs) @ mount.T
            acc += rng.normal(0, settings.noise_g, acc.shape)
            acc = np.clip(acc, -settings.range_g, settings.range_g)  # the sensor rails
            rec.bouts.append(Bout(animal, behaviour, acc.astype(np.float32), f"synthetic:{animal}:{behaviour}#{k}"))
    return rec


def write_csv(rec: Recordings, path: Path) -> None:
    """Write recordings in the generic CSV layout (used by tests and to show the format)."""
    import pandas as pd

    frames = []
    period = 1.0 / rec.sample_rate
    t0 = 0.0
    for b in rec.bouts:
        n = len(b)
        frames.append(
            pd.DataFrame(
                {
                    "animal": b.animal,
                    "timestamp": np.round(t0 + np.arange(n) * period, 6),
                    "ax": b.samples[:, 0],
                    "ay": b.samples[:, 1],
                    "az": b.samples[:, 2],
                    "label": b.label,
                }
            )
        )
        t0 += n * period + 10.0  # a gap between bouts
    pd.concat(frames).to_csv(path, index=False, float_format="%.6f")
