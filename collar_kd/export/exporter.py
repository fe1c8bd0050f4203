"""`collar-kd export RUN_DIR --target eartag|collar --out DIR`.

Quantizes a run's KD student (calibrating on the run's own training windows), optionally
fine-tunes it with fake quantization, checks it fits the device profile, and writes the
model headers, the C runtime, golden vectors and a manifest.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import collar_kd
from collar_kd.config import config_from_dict
from collar_kd.data import load_recordings, windows_for
from collar_kd.errors import CollarKDError, ConfigError, DataError
from collar_kd.export import vectors
from collar_kd.export.devices import DeviceProfile, load_device
from collar_kd.export.golden import adversarial_windows, sample_windows, synthetic_windows
from collar_kd.export.header import params_header, weights_header
from collar_kd.paths import FIRMWARE_DIR, WASP_DATASET
from collar_kd.quant.quantizer import QuantizedStudent, quantize_student
from collar_kd.quant.spec import EXPORT_WEIGHT_BITS, MAX_FAN_IN
from collar_kd.runs import atomic_directory, load_student, read_json, write_json
from collar_kd.sim import FixedPointSimulator

SHIFT_RANGE = (-15, 47)  # what the int8_t shift fields and 64-bit re-quantization handle


@dataclass
class ExportOptions:
    target: str = "eartag"
    weight_bits: int = 8
    formats: str = "range"
    qat_epochs: int = 0
    windows: int = 1000
    student: str = "student_kd"
    seed: int = 0
    count_instructions: bool = False  # run the golden windows under QEMU with the counting plugin


class ModelDoesNotFit(CollarKDError):
    pass


def run_windows(run_dir: Path, arch: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """The run's own windows (x in g, labels): calibration data and the 'real' golden vectors."""
    cfg = config_from_dict(read_json(Path(run_dir) / "config.json"))
    try:
        rec, class_map = load_recordings(cfg.data, seed=cfg.seed)
    except DataError as e:
        raise DataError(e.source, f"cannot reload the run's training data for calibration: {e}") from None
    win = windows_for(rec, class_map.classes, cfg.data.window, cfg.data.stride)
    if win.length != arch["window_length"]:
        raise ConfigError(f"{run_dir}: the run's data gives windows of {win.length} samples, its models expect {arch['window_length']}")
    return win.x, win.y, rec.source


def shared_real_windows(q: QuantizedStudent, n: int, seed: int) -> tuple[np.ndarray, str | None]:
    """Real collar windows from ../shared (resampled to the model's rate) when present."""
    if not (WASP_DATASET / "index.csv").is_file():
        return np.zeros((0, q.window_length, 3), dtype=np.int16), None
    from collar_kd.data.wasp import read_wasp_recordings
    from collar_kd.data.windows import make_windows, resample

    rec = resample(read_wasp_recordings(WASP_DATASET), q.sample_rate_hz)
    labels = tuple(sorted({b.label for b in rec.bouts}))
    try:
        win = make_windows(rec, labels, q.window_length, max(1, q.window_length // 2))
    except DataError:
        return np.zeros((0, q.window_length, 3), dtype=np.int16), None
    return q.quantize_input(sample_windows(win.x, n, seed)), str(WASP_DATASET)


def check_fits(q: QuantizedStudent, profile: DeviceProfile, footprint: dict) -> None:
    problems = []
    if max(q.hidden, q.head) > MAX_FAN_IN:
        problems.append(f"fan-in {max(q.hidden, q.head)} > {MAX_FAN_IN} (32-bit accumulators could overflow)")
    for name, s in q.shifts.items():
        if not SHIFT_RANGE[0] <= s <= SHIFT_RANGE[1]:
            problems.append(f"shift '{name}' = {s} outside {SHIFT_RANGE}")
    if footprint["flash_bytes"] > profile.model_flash_budget_bytes:
        problems.append(f"flash {footprint['flash_bytes']:,} B > {profile.model_flash_budget_bytes:,} B budget of '{profile.name}'")
    if footprint["ram_bytes"] > profile.model_ram_budget_bytes:
        problems.append(f"RAM {footprint['ram_bytes']:,} B (state + stack) > {profile.model_ram_budget_bytes:,} B budget of '{profile.name}'")
    if problems:
        raise ModelDoesNotFit(
            f"the {q.weight_bits}-bit student (hidden {q.hidden}, head {q.head}) does not fit '{profile.name}': "
            + "; ".join(problems) + f" ({footprint['how']}). Train a smaller student (--hidden) or pick another target."
        )


def estimate_footprint(q: QuantizedStudent, export_dir: Path, profile: DeviceProfile, build_dir: Path):
    """Flash and RAM of model + runtime: measured by cross-compiling when arm-none-eabi-gcc is
    installed (returned with the image, for reuse), otherwise estimated from the array sizes
    (and said so; the image is then None)."""
    state = 2 * (8 * q.hidden + q.head) + 4  # ckd_state_t
    from collar_kd.verify.build import ToolchainMissing, build_arm, model_footprint, stack_usage

    try:
        image = build_arm(export_dir, profile, build_dir)
    except ToolchainMissing:
        weights = sum(w.size for w in q.weights.values()) * q.weight_bits // 8
        biases = 4 * sum(b.size for b in q.biases.values())
        flash = weights + biases + 2 * 2 * 257 + 3000  # + tables + a runtime code allowance
        return {"flash_bytes": flash, "ram_bytes": state + 512, "state_bytes": state, "stack_bytes": None,
                "how": "estimated without arm-none-eabi-gcc: arrays + 3000 B of code, 512 B of stack"}, None
    fp = model_footprint(image)
    stack = stack_usage(image)["bound_bytes"]
    return {
        "flash_bytes": fp["text"] + fp["rodata"] + fp["data"],
        "ram_bytes": fp["data"] + fp["bss"] + state + stack,
        "text_bytes": fp["text"], "rodata_bytes": fp["rodata"], "data_bytes": fp["data"], "bss_bytes": fp["bss"],
        "state_bytes": state, "stack_bytes": stack,
        "how": f"measured: arm-none-eabi-gcc -O2 for {profile.cpu}, linker map after --gc-sections; "
               "stack is the sum of all model frames from -fstack-usage",
    }, image


def measure_instructions(image, export_dir: Path, profile: DeviceProfile, model_id: int) -> dict:
    """Exact instructions per golden window of the export's own target, under QEMU."""
    from collar_kd.verify.instructions import count_instructions, summarize

    if image is None:
        raise CollarKDError("--count-instructions needs arm-none-eabi-gcc and qemu-system-arm (make toolchain)")
    with tempfile.TemporaryDirectory() as tmp:
        counts = count_instructions(image, export_dir / "golden" / "inputs.bin", Path(tmp))
        if vectors.read_outputs(counts["outputs"]).model_id != model_id:
            raise CollarKDError("instruction count run produced another model's output")
    return {
        "instructions_per_window": summarize(counts),
        "instructions_by_function_per_window": {f: v / counts["windows"] for f, v in sorted(counts["per_function_total"].items())},
        "instructions_note": f"exact, counted under QEMU {profile.qemu_machine} ({profile.cpu}"
                             f"{', DSP path' if profile.dsp else ''}) over the golden windows",
    }


def write_c(q: QuantizedStudent, out: Path, model_id: str, target: str) -> None:
    (out / "runtime").mkdir(parents=True, exist_ok=True)
    for src in sorted((FIRMWARE_DIR / "runtime").glob("ckd_*.[ch]")):
        shutil.copy2(src, out / "runtime" / src.name)
    (out / "ckd_model_params.h").write_text(params_header(q, model_id, target))
    (out / "ckd_model_weights.h").write_text(weights_header(q))


def export_run(run_dir: Path, out: Path, opts: ExportOptions, force: bool = False, progress=None) -> dict:
    run_dir = Path(run_dir)
    if opts.weight_bits not in EXPORT_WEIGHT_BITS:
        raise ConfigError(f"--weight-bits {opts.weight_bits}: the C export supports {' and '.join(map(str, EXPORT_WEIGHT_BITS))}-bit "
                          f"weights only; {opts.weight_bits}-bit students exist in the quantizer and simulator (bench) "
                          "but have no C kernels")
    profile = load_device(opts.target)
    model, arch = load_student(run_dir, opts.student)
    x, y, source = run_windows(run_dir, arch)
    q = quantize_student(model, x, arch, opts.weight_bits, opts.formats)
    qat_report = None
    if opts.qat_epochs > 0:
        from collar_kd.quant.qat import qat_finetune

        q, _, qat_report = qat_finetune(run_dir, model, arch, x, y, q, opts.qat_epochs, opts.seed)
    model_id = q.model_id()
    sim = FixedPointSimulator(q)
    n_real = opts.windows * 4 // 10
    n_adv = opts.windows * 3 // 10
    shared, shared_src = shared_real_windows(q, n_real // 2, opts.seed)
    own = q.quantize_input(sample_windows(x, n_real - len(shared), opts.seed))
    synth = synthetic_windows(q, opts.windows - n_real - n_adv, opts.seed + 101)
    adv, adv_kinds = adversarial_windows(opts.windows - len(own) - len(shared) - len(synth), q.window_length, opts.seed)
    xq = np.concatenate([own, shared, synth, adv]).astype(np.int16)
    groups = {"run_data": len(own), "shared_real": len(shared), "synthetic": len(synth), "adversarial": len(adv)}
    result = sim.run(xq)
    with atomic_directory(out, force=force) as tmp, tempfile.TemporaryDirectory() as build:
        write_c(q, tmp, model_id, profile.name)
        footprint, image = estimate_footprint(q, tmp, profile, Path(build))
        check_fits(q, profile, footprint)
        (tmp / "golden").mkdir()
        vectors.write_inputs(tmp / "golden" / "inputs.bin", xq)
        vectors.write_outputs(tmp / "golden" / "outputs.bin", result.logits, result.classes, result.h, int(model_id, 16))
        q.save(tmp / "quantized_student.npz")
        manifest = {
            "collar_kd": collar_kd.__version__,
            "model_id": model_id,
            "target": profile.name,
            "device": {k: getattr(profile, k) for k in ("cpu", "qemu_machine", "clock_hz", "flash_bytes", "ram_bytes", "dsp")},
            "run_dir": str(run_dir),
            "student": opts.student,
            # How the run trained student_kd (method, weight bits it was trained for).
            "trained_by": arch.get("student_kd_method") if opts.student == "student_kd" else {"name": "none"},
            "classes": q.classes,
            "sample_rate_hz": q.sample_rate_hz,
            "window_length": q.window_length,
            "hidden": q.hidden,
            "head": q.head,
            "weight_bits": q.weight_bits,
            "format_method": q.method,
            "frac": q.frac,
            "shifts": q.shifts,
            "logit_frac": q.logit_frac,
            "bias_clamped": q.bias_clamped,
            "calibration_data": source,
            "golden_windows": groups,
            "adversarial_kinds": sorted(set(adv_kinds)),
            "shared_real_source": shared_src,
            "footprint": footprint,
            "multiplications_per_window": model.mults_per_window(q.window_length),
            "instructions_per_window": None,
            "instructions_note": "not measured: export with --count-instructions (QEMU TCG plugin), or see make bench-mcu",
            "qat": qat_report,
        }
        if opts.count_instructions:
            manifest.update(measure_instructions(image, tmp, profile, int(model_id, 16)))
        write_json(tmp / "manifest.json", manifest)
    return manifest
