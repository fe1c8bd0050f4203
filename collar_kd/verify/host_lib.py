"""The exported C, compiled on the host and wrapped as a Python object (the emlearn idea), so
one test can drive the C and the simulator with the same data. Kernel-level calls go through
collar_kd/verify/target_shim.py, which runs the same calls on the host or on a Cortex-M."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np

from collar_kd.paths import FIRMWARE_DIR
from collar_kd.verify.build import build_host_library

SHIM_HEADER = FIRMWARE_DIR / "host" / "ckd_host_shim.h"
_C_TYPES = {
    "int": ctypes.c_int, "int32_t": ctypes.c_int32, "void": None,
    "int8_t*": np.ctypeslib.ndpointer(np.int8, flags="C_CONTIGUOUS"),
    "int16_t*": np.ctypeslib.ndpointer(np.int16, flags="C_CONTIGUOUS"),
    "int32_t*": np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS"),
}


def shim_signatures(header: Path = SHIM_HEADER) -> dict[str, tuple]:
    """name -> (restype, argtypes) from the shim's prototypes: the interface is declared in C only."""
    sigs = {}
    for ret, name, params in re.findall(r"^(\w+) (shim_\w+)\((.*)\);$", header.read_text(), flags=re.M):
        args = []
        for param in params.split(","):
            words = param.replace("const ", "").replace("*", " * ").split()
            if words == ["void"]:
                continue
            args.append(_C_TYPES["".join(words[:-1])])
        sigs[name] = (_C_TYPES[ret], args)
    return sigs


class HostC:
    def __init__(self, export_dir: Path, build_dir: Path):
        self.lib = ctypes.CDLL(str(build_host_library(export_dir, build_dir)))
        for name, (restype, argtypes) in shim_signatures().items():
            fn = getattr(self.lib, name)
            fn.restype, fn.argtypes = restype, argtypes

    def run_windows(self, xq: np.ndarray, n_classes: int, hidden: int):
        xq = np.ascontiguousarray(xq, np.int16)
        n = len(xq)
        logits = np.zeros((n, n_classes), np.int32)
        cls = np.zeros(n, np.int32)
        h = np.zeros((n, hidden), np.int16)
        self.lib.shim_run_windows(xq, n, logits, cls, h)
        return logits, cls, h

    def input_from_counts(self, counts: int, counts_shift: int) -> int:
        return int(self.lib.shim_input_from_counts(counts, counts_shift))

    def state_bytes(self) -> int:
        return int(self.lib.shim_state_bytes())
