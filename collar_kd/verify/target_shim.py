"""The test shim's calls (firmware_export/host/ckd_host_shim.h) on any target: the host build
through ctypes, or a Cortex-M image under QEMU (firmware_export/verify/shim_main.c) that replays a
batch of calls in one emulator run. One kernel test drives both with the same data, so the SMLAD
path, which only exists on the device, is checked element by element on edge values too."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collar_kd.errors import CollarKDError
from collar_kd.export.devices import load_device
from collar_kd.verify.build import build_arm, run_qemu
from collar_kd.verify.host_lib import HostC, shim_signatures

_KIND = {np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3}


@dataclass
class Misaligned:
    """An array argument placed `offset` bytes past a word boundary (a multiple of its element size)."""

    array: np.ndarray
    offset: int


def _arrays(args) -> list[tuple[int, np.ndarray, int]]:
    """(position, array, offset) of the array arguments, in order."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, Misaligned):
            out.append((i, a.array, a.offset))
        elif isinstance(a, np.ndarray):
            out.append((i, a, 0))
    return out


class ShimBatch:
    """Calls collected first, then run on one target; results are the array arguments after each
    call (outputs included), as the host's ctypes call would leave them."""

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def add(self, name: str, *args) -> int:
        if name not in shim_signatures():
            raise CollarKDError(f"no shim function '{name}'")
        self.calls.append((name, args))
        return len(self.calls) - 1

    def run_host(self, host: HostC) -> list[list[np.ndarray]]:
        results = []
        for name, args in self.calls:
            # copies, so that outputs never land in the caller's arrays
            plain = [_misaligned_copy(a) if isinstance(a, Misaligned) else (np.array(a) if isinstance(a, np.ndarray) else a)
                     for a in args]
            getattr(host.lib, name)(*plain)
            results.append([np.array(plain[i]) for i, _, _ in _arrays(args)])
        return results

    def encode(self) -> bytes:
        parts = []
        for name, args in self.calls:
            parts.append(struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", len(args)))
            for a in args:
                if isinstance(a, (int, np.integer)):
                    parts.append(struct.pack("<IIIi", 0, 1, 0, int(a)))
                    continue
                arr, offset = (a.array, a.offset) if isinstance(a, Misaligned) else (a, 0)
                data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
                parts.append(struct.pack("<III", _KIND[arr.dtype], arr.size, offset) + data + b"\0" * (-len(data) % 4))
        return b"".join(parts)

    def decode(self, raw: bytes) -> list[list[np.ndarray]]:
        results, pos = [], 0
        for _, args in self.calls:
            got = []
            for _, arr, _ in _arrays(args):
                n = arr.size * arr.dtype.itemsize
                got.append(np.frombuffer(raw[pos : pos + n], dtype=arr.dtype.newbyteorder("<")).astype(arr.dtype))
                pos += n
            results.append(got)
        if pos != len(raw):
            raise CollarKDError(f"shim results: {len(raw)} bytes, expected {pos}")
        return results


def _misaligned_copy(a: Misaligned) -> np.ndarray:
    """A view of a fresh buffer whose data starts `offset` bytes past an aligned address."""
    item = a.array.dtype.itemsize
    buf = np.zeros(a.array.nbytes + 16, np.uint8)
    start = (-buf.ctypes.data) % 16 + a.offset
    view = buf[start : start + a.array.nbytes].view(a.array.dtype)
    assert view.ctypes.data % 4 == a.offset % 4 and a.offset % item == 0
    view[...] = a.array
    return view


class TargetShim:
    """The shim built for a device profile (dsp or portable C) and run under QEMU."""

    def __init__(self, export_dir: Path, target: str, build_dir: Path, dsp: bool = True):
        self.profile = load_device(target)
        self.build_dir = Path(build_dir)
        self.image = build_arm(export_dir, self.profile, self.build_dir, dsp=dsp, harness="shim")

    def run(self, batch: ShimBatch) -> list[list[np.ndarray]]:
        calls, results = self.build_dir / "calls.bin", self.build_dir / "results.bin"
        calls.write_bytes(batch.encode())
        results.unlink(missing_ok=True)
        proc = run_qemu(self.profile, self.image.elf, [calls.name, results.name], self.build_dir)
        if f"CKD-SHIM-DONE calls={len(batch.calls)}" not in proc.stdout:
            raise CollarKDError(f"shim on {self.profile.name} did not finish: {proc.stdout[-500:]}{proc.stderr[-500:]}")
        return batch.decode(results.read_bytes())
