"""In-memory form of labelled accelerometry: bouts of one animal doing one thing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

STANDARD_GRAVITY = 9.80665  # m/s^2 per g


@dataclass
class Bout:
    """A contiguous run of samples from one animal with one label.

    `samples` is float32 of shape (n, 3) in units of g (standard gravity), body frame.
    Windows are only ever cut inside one bout.
    """

    animal: str
    label: str
    samples: np.ndarray
    source: str  # file (and row range) it came from, for messages
    start: float | None = None  # time of the first sample, seconds (epoch seconds for date-times), when known

    def __len__(self) -> int:
        return int(self.samples.shape[0])


@dataclass
class Recordings:
    """All bouts of a dataset, at one sample rate, plus what was dropped while reading."""

    bouts: list[Bout]
    sample_rate: float
    source: str
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count of bouts/rows dropped

    @property
    def animals(self) -> list[str]:
        return sorted({b.animal for b in self.bouts})

    @property
    def labels(self) -> list[str]:
        return sorted({b.label for b in self.bouts})

    def count_dropped(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def fingerprint(self) -> str:
        """A hash of everything the models see: samples, labels, animals and the rate."""
        h = hashlib.sha256()
        h.update(repr(self.sample_rate).encode())
        for b in self.bouts:
            h.update(b.animal.encode() + b"\0" + b.label.encode() + b"\0")
            h.update(np.ascontiguousarray(b.samples, dtype="<f4").tobytes())
        return h.hexdigest()

    def summary(self) -> dict:
        per_class: dict[str, int] = {}
        for b in self.bouts:
            per_class[b.label] = per_class.get(b.label, 0) + len(b)
        return {
            "source": self.source,
            "sample_rate_hz": self.sample_rate,
            "animals": self.animals,
            "bouts": len(self.bouts),
            "samples_per_class": dict(sorted(per_class.items())),
            "dropped": dict(self.dropped),
        }
