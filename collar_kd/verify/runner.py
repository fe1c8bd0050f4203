"""Run the exported C on a target and compare every output bit with the simulator.

On a mismatch, the first differing window is re-run on the same target in a tracing build,
and the first differing time step, tensor and element is named (TensorFlow Lite Micro's
layer-by-layer idea). The verdict comes from comparing the output file, never from an exit
status alone (semihosting exit codes can lie, see ../shared/notes/mcu-toolchain.md)."""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from collar_kd.errors import CollarKDError, RunDirError
from collar_kd.export import vectors
from collar_kd.export.devices import DeviceProfile, device_names, load_device
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.sim import FixedPointSimulator
from collar_kd.sim.simulator import STEP_TENSORS
from collar_kd.verify.build import QEMU_TIMEOUT_S, build_arm, build_host, run_qemu

HOST = "host"


def target_names() -> list[str]:
    """The host build and every device profile in data/devices (others by their .json path)."""
    return [HOST, *device_names()]


@dataclass
class Verdict:
    target: str
    passed: bool
    windows: int
    detail: str
    seconds: float
    mismatch: dict | None = field(default=None)

    def line(self) -> str:
        word = "PASS" if self.passed else "FAIL"
        return f"CKD-VERIFY {word} {self.target}: {self.detail}"


def _describe(target: str, profile: DeviceProfile | None, dsp: bool) -> str:
    if profile is None:
        return f"host {platform.machine()} gcc ASan+UBSan"
    return f"{profile.cpu} on QEMU {profile.qemu_machine}{' with DSP (SMLAD)' if dsp else ' portable C'}"


def _execute(target: str, export_dir: Path, build_dir: Path, args: list[str], trace: bool, dsp: bool):
    """Build for the target and run the harness with `args` (file names inside build_dir)."""
    if target == HOST:
        exe = build_host(export_dir, build_dir / ("host-trace" if trace else "host"), trace=trace)
        return subprocess.run([str(exe), *args], cwd=build_dir, capture_output=True, text=True, timeout=QEMU_TIMEOUT_S)
    profile = load_device(target)
    image = build_arm(export_dir, profile, build_dir / (f"{profile.name}-trace" if trace else profile.name), dsp=dsp, trace=trace)
    local = build_dir / image.elf.name
    shutil.copy2(image.elf, local)
    return run_qemu(profile, local, args, build_dir)


def read_trace(path: Path) -> list[tuple[str, np.ndarray]]:
    raw = Path(path).read_bytes()
    out, i = [], 0
    while i < len(raw):
        n_name = raw[i]
        name = raw[i + 1 : i + 1 + n_name].decode()
        i += 1 + n_name
        n = int(np.frombuffer(raw[i : i + 4], dtype="<u4")[0])
        i += 4
        out.append((name, np.frombuffer(raw[i : i + 2 * n], dtype="<i2").astype(np.int64)))
        i += 2 * n
    return out


def first_difference(device_trace: list[tuple[str, np.ndarray]], sim_trace: dict[str, np.ndarray]) -> dict | None:
    """Walk the device's tensors in computation order and name the first element that differs."""
    steps = sim_trace["a"].shape[1]
    expected = [(t, name, sim_trace[name][0, t]) for t in range(steps) for name in STEP_TENSORS]
    expected.append((None, "y", sim_trace["y"][0]))
    for (t, name, want), (got_name, got) in zip(expected, device_trace):
        if got_name != name or got.shape != want.shape:
            return {"time_step": t, "tensor": name, "element": None, "note": f"device traced {got_name}{got.shape}"}
        diff = np.nonzero(got != want)[0]
        if len(diff):
            e = int(diff[0])
            return {"time_step": t, "tensor": name, "element": e, "device": int(got[e]), "simulator": int(want[e])}
    if len(device_trace) < len(expected):
        return {"time_step": None, "tensor": None, "element": None, "note": "device trace ended early"}
    return None


EXPORT_FILES = ("manifest.json", "quantized_student.npz", "golden/inputs.bin", "golden/outputs.bin",
                "ckd_model_params.h", "ckd_model_weights.h")


def check_export_dir(export_dir: Path) -> None:
    if not export_dir.is_dir():
        raise RunDirError(f"{export_dir}: no such export directory (make one with `collar-kd export`)")
    missing = [f for f in EXPORT_FILES if not (export_dir / f).is_file()]
    if missing:
        raise RunDirError(f"{export_dir}: not a complete collar-kd export (missing {', '.join(missing)}); export again")


def verify_target(export_dir: Path, target: str, build_dir: Path, dsp: bool = True) -> Verdict:
    export_dir, build_dir = Path(export_dir).resolve(), Path(build_dir).resolve()
    check_export_dir(export_dir)  # before anything is created in it
    build_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    profile = None if target == HOST else load_device(target)
    what = _describe(target, profile, dsp and bool(profile and profile.dsp))
    label = profile.name if profile else HOST
    xq = vectors.read_inputs(export_dir / "golden" / "inputs.bin")
    golden = vectors.read_outputs(export_dir / "golden" / "outputs.bin")
    shutil.copy2(export_dir / "golden" / "inputs.bin", build_dir / "inputs.bin")
    q = QuantizedStudent.load(export_dir / "quantized_student.npz")
    # The golden file must still be what the simulator computes (no stale vectors).
    sim = FixedPointSimulator(q).run(xq)
    if not (np.array_equal(sim.logits, golden.logits) and np.array_equal(sim.h, golden.h)):
        raise CollarKDError(f"{export_dir}/golden/outputs.bin no longer matches the simulator: re-export the model")
    out_name = f"outputs-{profile.name if profile else HOST}.bin"
    (build_dir / out_name).unlink(missing_ok=True)
    proc = _execute(target, export_dir, build_dir, ["inputs.bin", out_name], trace=False, dsp=dsp)
    n = len(xq)
    sentinel = f"CKD-VERIFY-DONE windows={n}"
    try:
        dev = vectors.read_outputs(build_dir / out_name)
    except (OSError, ValueError, CollarKDError) as e:
        return Verdict(label, False, n, f"{what}: no complete output ({e}); exit {proc.returncode}; "
                       f"output: {(proc.stdout + proc.stderr).strip()[-400:]}", time.time() - started)
    if sentinel not in proc.stdout:
        return Verdict(label, False, n, f"{what}: sentinel line missing (exit {proc.returncode}): "
                       f"{(proc.stdout + proc.stderr).strip()[-400:]}", time.time() - started)
    if dev.model_id != golden.model_id:
        return Verdict(label, False, n, f"{what}: model id {dev.model_id:08x} != {golden.model_id:08x}", time.time() - started)
    if (dev.logits.shape, dev.h.shape) != (golden.logits.shape, golden.h.shape):  # e.g. an edited header
        return Verdict(label, False, n, f"{what}: the device wrote logits {dev.logits.shape} and state {dev.h.shape}, the "
                       f"simulator {golden.logits.shape} and {golden.h.shape}: the C does not match the exported model "
                       "(were the headers edited?)", time.time() - started)
    bad = (dev.logits != golden.logits).any(axis=1) | (dev.classes != golden.classes) | (dev.h != golden.h).any(axis=1)
    if not bad.any():
        return Verdict(label, True, n, f"{what}: {n} windows bit-exact (logits, class, final state), model {dev.model_id:08x}",
                       time.time() - started)
    w = int(np.argmax(bad))
    mismatch = {"window": w, "windows_differing": int(bad.sum())}
    trace_proc = _execute(target, export_dir, build_dir, ["inputs.bin", "trace-out.bin", str(w), "trace.bin"], trace=True, dsp=dsp)
    if (build_dir / "trace.bin").exists() and trace_proc.returncode == 0:
        sim_trace = FixedPointSimulator(q).run(xq[w : w + 1], trace=True).trace
        where = first_difference(read_trace(build_dir / "trace.bin"), sim_trace)
        if where is None:
            cls = int(np.argmax(dev.logits[w] != golden.logits[w]))
            where = {"time_step": None, "tensor": "logits", "element": cls,
                     "device": int(dev.logits[w, cls]), "simulator": int(golden.logits[w, cls])}
        mismatch.update(where)
    detail = (f"{what}: {mismatch['windows_differing']} of {n} windows differ; first at window {w}"
              + (f", time step {mismatch.get('time_step')}, tensor {mismatch.get('tensor')}, element {mismatch.get('element')}"
                 f" (device {mismatch.get('device')} vs simulator {mismatch.get('simulator')})" if "tensor" in mismatch else ""))
    return Verdict(label, False, n, detail, time.time() - started, mismatch)
