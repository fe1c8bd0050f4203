"""The exported C, compiled on the host and wrapped as a Python object (the emlearn idea), so
one test can drive the C and the simulator with the same data."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np

from collar_kd.export.layout import block_layout_s8, fold_rounding, folds
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

    def fc(self, w: np.ndarray, bias: np.ndarray, x: np.ndarray, shift: int, relu: bool, bits: int = 8):
        """w and bias as the simulator holds them: the int8 storage order and the folded rounding
        constant are applied here, by the exporter's own functions."""
        rows, cols = w.shape
        out = np.zeros(rows, np.int16)
        acc = np.zeros(rows, np.int32)
        b = np.ascontiguousarray(bias, np.int32)
        xin = np.ascontiguousarray(x, np.int16)
        if bits == 8:
            b_out = np.ascontiguousarray(fold_rounding(w, bias, shift) if folds(shift, 8) else bias, np.int32)
            self.lib.shim_fc_s8(np.ascontiguousarray(block_layout_s8(np.asarray(w, np.int8)), np.int8), b_out, b, rows, cols,
                                shift, int(relu), xin, out, acc)
        else:
            self.lib.shim_fc_s16(np.ascontiguousarray(w, np.int16), b, rows, cols, shift, int(relu), xin, out, acc)
        return out, acc

    def act(self, x: np.ndarray, table: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.int16)
        y = np.zeros_like(x)
        self.lib.shim_act(x, y, len(x), np.ascontiguousarray(table, np.int16))
        return y

    def gru_update(self, gi, gh, h, gate_shift, sig, tanh_t):
        hidden = len(h)
        h = np.array(h, np.int16)
        r, z, n = (np.zeros(hidden, np.int16) for _ in range(3))
        self.lib.shim_gru_update(np.ascontiguousarray(gi, np.int16), np.ascontiguousarray(gh, np.int16), h, hidden,
                                 gate_shift, np.ascontiguousarray(sig, np.int16), np.ascontiguousarray(tanh_t, np.int16), r, z, n)
        return r, z, n, h

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
