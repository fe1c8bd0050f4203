"""Where the networks compute: the one place that chooses a device and moves tensors to it.

`--device auto|cpu|cuda` (config `device`) is resolved here once per process (and once per Ray
task: every fold job calls `use_device`). Training and float prediction compute on that device;
everything else (quantization, the fixed-point simulator, export, the forest) stays on the CPU.
The rule that keeps this to one place: models live on the CPU between computations. The training
loop moves its modules in and back out, `predict_logits` does the same, and the few per-window
tables a loss indexes (labels, cached soft labels, feature maps, class weights) are put on the
device once when they are made, with `to_compute`.

Determinism: on the CPU every run is bit-identical for the same seed, data and thread count
(tests check it). On CUDA, PyTorch's deterministic mode is kept on (and cuBLAS is given the
workspace setting it requires), so a run repeats itself on the same GPU and software stack, but
its numbers are not the CPU's: GPU kernels sum in another order. Augmentations and shuffling
draw from the CPU generator on the CPU, so both devices see the same batches.
"""

from __future__ import annotations

import os

import torch

from collar_kd.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
_current = torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA if PyTorch sees a GPU, else the CPU; 'cuda' without one is an error."""
    if name not in DEVICES:
        raise ConfigError(f"device: must be one of {', '.join(DEVICES)}, not '{name}'")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' was asked for, but PyTorch sees no CUDA GPU on this machine "
                          f"(torch {torch.__version__}, {'a CPU-only build' if torch.version.cuda is None else 'CUDA ' + torch.version.cuda}); "
                          "use --device cpu or auto")
    # Deterministic algorithms on CUDA need this cuBLAS workspace setting, before cuBLAS starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device("cuda")


def use_device(name: str) -> torch.device:
    """Compute on `name` (resolved) from now on in this process; returns the device."""
    global _current
    _current = resolve_device(name)
    return _current


def compute_device() -> torch.device:
    return _current


def to_compute(t: torch.Tensor | None) -> torch.Tensor | None:
    """A tensor on the compute device (None stays None; no copy when it is there already)."""
    if t is None or t.device == _current:
        return t
    return t.to(_current)
