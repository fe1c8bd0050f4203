"""The stages of `collar-kd export` that need no compiler: decide the precision, quantize the
run's student on its own training windows, pick golden windows, check the device budget and
write the C, golden vectors and the quantized model. Building and measuring belong to
collar_kd/verify; collar_kd/pipeline/export_run.py puts the stages in order.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from collar_kd.config import TrainConfig, config_from_dict
from collar_kd.data import load_recordings, windows_for
from collar_kd.errors import CollarKDError, ConfigError, DataError
from collar_kd.export import vectors
from collar_kd.export.devices import DeviceProfile
from collar_kd.export.golden import adversarial_windows, sample_windows, synthetic_windows
from collar_kd.export.header import params_header, weights_header
from collar_kd.paths import FIRMWARE_DIR, WASP_DATASET
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.quant.spec import (CALIBRATIONS, EXPORT_WEIGHT_BITS, LAYERS, MAX_FAN_IN, ROUNDINGS, SHIFT_MAX, SHIFT_MIN, WEIGHT_FORMATS,
                                  spec_header)
from collar_kd.runs import read_json
from collar_kd.sim import FixedPointSimulator


@dataclass
class ExportOptions:
    target: str = "eartag"
    weight_bits: int | None = None  # None: what the run trained the student for
    layer_weight_bits: dict[str, int] | None = None  # layers of their own width; None: what the run trained them for
    calibration: str | None = None  # None: the run's method.calibration
    weight_formats: str | None = None  # None: the run's method.weight_formats
    rounding: str | None = None  # None: the run's method.rounding ("nearest" for runs from before it was recorded)
    qat_epochs: int = 0
    windows: int = 1000
    student: str = "student_kd"
    seed: int = 0  # golden-window sampling and the QAT shuffle
    count_instructions: bool = False  # run the golden windows under QEMU with the counting plugin
    allow_changed_data: bool = False  # calibrate even if the run's training data changed since training
    device_rate_hz: float | None = None  # the device's sensor runs at this rate instead of its profile's
    onnx_dir: Path | None = None  # also write the float teacher and student as ONNX here, checked with onnxruntime

    def check(self) -> None:
        """Every numeric option in range (NaN and negative counts included), before any work."""
        if not 1 <= self.windows <= 1_000_000:
            raise ConfigError(f"--windows: golden windows must be between 1 and 1000000, not {self.windows}")
        if not 0 <= self.qat_epochs <= 10_000:
            raise ConfigError(f"--qat-epochs: must be between 0 and 10000, not {self.qat_epochs}")
        if self.device_rate_hz is not None and not (isinstance(self.device_rate_hz, (int, float))
                                                     and 0 < self.device_rate_hz < 100_000):
            raise ConfigError(f"--device-rate: must be a positive number of Hz, not {self.device_rate_hz}")
        if self.student not in ("student_kd", "student"):
            raise ConfigError(f"--student: must be student_kd or student, not '{self.student}'")


@dataclass
class Precision:
    weight_bits: int
    calibration: str
    weight_formats: str
    notes: list[str]  # what differs from what the run trained for, said to the user
    layer_bits: dict[str, int] = field(default_factory=dict)  # layers in another word length (quantize_student)
    rounding: str = "nearest"

    def quantizer_args(self) -> dict:
        return {"weight_bits": self.weight_bits, "calibration": self.calibration, "weight_formats": self.weight_formats,
                "layer_bits": self.layer_bits, "rounding": self.rounding}


class ModelDoesNotFit(CollarKDError):
    pass


def choose_precision(opts: ExportOptions, arch: dict) -> Precision:
    """The one place export decides bits and calibration: by default what the run trained its
    student for; a different request is honoured and said; a width the C lacks is refused."""
    trained = arch.get("student_kd_method", {}) if opts.student == "student_kd" else {}
    trained_bits = trained.get("weight_bits", 8)
    trained_cal = trained.get("calibration", "range")
    # A float-trained student takes per-row formats; one that an older run tuned through the quantizer
    # (qat-kd, speq: before weight_formats was recorded) was tuned with one format per layer.
    trained_formats = trained.get("weight_formats") or ("tensor" if trained.get("name") in ("qat-kd", "speq") else "row")
    formats = trained_formats if opts.weight_formats is None else opts.weight_formats
    bits = trained_bits if opts.weight_bits is None else opts.weight_bits
    cal = trained_cal if opts.calibration is None else opts.calibration
    # Runs from before method.rounding were judged (8-bit row, report) with the nearest grid point.
    trained_rounding = trained.get("rounding", "nearest")
    rounding = trained_rounding if opts.rounding is None else opts.rounding
    if bits not in EXPORT_WEIGHT_BITS:
        why = (f"the run trained {opts.student} for {bits}-bit weights (method '{trained.get('name')}')"
               if opts.weight_bits is None else f"--weight-bits {bits}")
        raise ConfigError(f"{why}: the C export supports {' and '.join(map(str, EXPORT_WEIGHT_BITS))}-bit weights only "
                          f"({bits}-bit students exist in the quantizer and simulator); pass --weight-bits 8 to quantize "
                          "this student to 8 bits anyway")
    trained_layers = dict(trained.get("layer_weight_bits", {}))
    layers = trained_layers if opts.layer_weight_bits is None else dict(opts.layer_weight_bits)
    for layer, width in layers.items():
        why = (f"the run trained {opts.student}'s layer '{layer}' for {width}-bit weights" if opts.layer_weight_bits is None
               else f"--layer-weight-bits {layer}={width}")
        if layer not in LAYERS:
            raise ConfigError(f"{why}: '{layer}' is not a layer of the student ({', '.join(LAYERS)})")
        if width not in EXPORT_WEIGHT_BITS:
            raise ConfigError(f"{why}: the C export supports {' and '.join(map(str, EXPORT_WEIGHT_BITS))}-bit weights only")
    if cal not in CALIBRATIONS:
        raise ConfigError(f"--calibration: must be one of {', '.join(CALIBRATIONS)}, not '{cal}'")
    if formats not in WEIGHT_FORMATS:
        raise ConfigError(f"--weight-formats: must be one of {', '.join(WEIGHT_FORMATS)}, not '{formats}'")
    if rounding not in ROUNDINGS:
        raise ConfigError(f"--rounding: must be one of {', '.join(ROUNDINGS)}, not '{rounding}'")
    notes = []
    if opts.student == "student_kd" and bits != trained_bits:
        notes.append(f"the run trained {opts.student} for {trained_bits}-bit weights; exporting {bits}-bit as asked")
    if opts.student == "student_kd" and cal != trained_cal:
        notes.append(f"the run calibrated with '{trained_cal}'; exporting with '{cal}' as asked")
    if opts.student == "student_kd" and formats != trained_formats:
        notes.append(f"the run's student was trained and judged with '{trained_formats}' weight formats; exporting "
                     f"'{formats}' as asked")
    if opts.student == "student_kd" and rounding != trained_rounding:
        notes.append(f"the run rounded the student's weights '{trained_rounding}'; exporting with '{rounding}' rounding as asked")
    layer_bits = {k: v for k, v in layers.items() if v != bits}
    if opts.student == "student_kd" and layer_bits != {k: v for k, v in trained_layers.items() if v != trained_bits}:
        trained_widths = ", ".join(f"{k} {trained_layers.get(k, trained_bits)}-bit" for k in LAYERS)
        notes.append(f"the run trained {opts.student}'s layers as {trained_widths}; exporting "
                     + ", ".join(f"{k} {layer_bits.get(k, bits)}-bit" for k in LAYERS) + " as asked")
    return Precision(bits, cal, formats, notes, layer_bits, rounding)


def run_config(run_dir: Path) -> TrainConfig:
    return config_from_dict(read_json(Path(run_dir) / "config.json"))


def run_windows(run_dir: Path, arch: dict, allow_changed_data: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """The run's own windows (x in g, labels): calibration data and the 'real' golden vectors.
    They must be the data the run was trained on (the manifest's fingerprint) unless allowed."""
    cfg = run_config(run_dir)
    try:
        rec, class_map = load_recordings(cfg.data, seed=cfg.seed)
    except DataError as e:
        raise DataError(e.source, f"cannot reload the run's training data for calibration: {e}") from None
    trained_on = read_json(Path(run_dir) / "manifest.json").get("data_fingerprint")
    if trained_on != rec.fingerprint() and not allow_changed_data:
        raise DataError(rec.source, f"the run's training data changed since `train` (fingerprint {str(trained_on)[:12]} "
                        f"in {Path(run_dir) / 'manifest.json'}, {rec.fingerprint()[:12]} now): the fixed-point formats would "
                        "be calibrated on other data. Restore the data or train again; --allow-changed-data exports anyway")
    win = windows_for(rec, class_map.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
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


@dataclass
class GoldenSet:
    xq: np.ndarray  # (n, T, 3) int16 inputs
    groups: dict[str, int]  # where they come from
    adversarial_kinds: list[str]
    shared_real_source: str | None


def golden_windows(q: QuantizedStudent, x_run: np.ndarray, n: int, seed: int) -> GoldenSet:
    """40% real (the run's own windows and ../shared), 30% synthetic, 30% adversarial."""
    n_real, n_adv = n * 4 // 10, n * 3 // 10
    shared, shared_src = shared_real_windows(q, n_real // 2, seed)
    own = q.quantize_input(sample_windows(x_run, n_real - len(shared), seed))
    synth = synthetic_windows(q, n - n_real - n_adv, seed + 101)
    adv, kinds = adversarial_windows(n - len(own) - len(shared) - len(synth), q.window_length, seed)
    return GoldenSet(np.concatenate([own, shared, synth, adv]).astype(np.int16),
                     {"run_data": len(own), "shared_real": len(shared), "synthetic": len(synth), "adversarial": len(adv)},
                     sorted(set(kinds)), shared_src)


def check_rate(profile: DeviceProfile, model_rate: float, override: float | None) -> tuple[DeviceProfile, list[str]]:
    """The model must be fed samples at the rate it was trained at. The device profile's rate
    is what its sensor runs at, unless the user says the sensor will run at another
    (`--device-rate`). Returns the profile as exported and what to tell the user."""
    notes = []
    if override is not None:
        notes.append(f"the device's sensor is set to {override:g} Hz for this model (profile '{profile.name}' says "
                     f"{profile.sample_rate_hz:g} Hz)")
        profile = replace(profile, sample_rate_hz=float(override))
    if abs(profile.sample_rate_hz - model_rate) > 1e-6 * model_rate:
        ratio = profile.sample_rate_hz / model_rate
        raise ConfigError(f"the model was trained at {model_rate:g} Hz but '{profile.name}' samples at "
                          f"{profile.sample_rate_hz:g} Hz: the device would feed it samples {ratio:.3g} times too "
                          f"{'fast' if ratio > 1 else 'slow'}. Train with --sample-rate {profile.sample_rate_hz:g} (the data "
                          f"are resampled), or, if the device's sensor will run at {model_rate:g} Hz, export with "
                          f"--device-rate {model_rate:g}")
    return profile, notes


def check_fits(q: QuantizedStudent, profile: DeviceProfile, footprint: dict) -> None:
    problems = []
    if max(q.hidden, q.head) > MAX_FAN_IN:
        problems.append(f"fan-in {max(q.hidden, q.head)} > {MAX_FAN_IN} (32-bit accumulators could overflow)")
    for name, s in {**q.shifts, "gate": np.array([q.gate_shift])}.items():
        bad = np.nonzero((s < SHIFT_MIN) | (s > SHIFT_MAX))[0]
        if len(bad):
            row = "" if name == "gate" else f", row {int(bad[0])}"
            problems.append(f"shift '{name}'{row} = {int(s[bad[0]])} outside {(SHIFT_MIN, SHIFT_MAX)}")
    if footprint["flash_bytes"] > profile.model_flash_budget_bytes:
        problems.append(f"flash {footprint['flash_bytes']:,} B > {profile.model_flash_budget_bytes:,} B budget of '{profile.name}'")
    if footprint["ram_bytes"] > profile.model_ram_budget_bytes:
        problems.append(f"RAM {footprint['ram_bytes']:,} B (state, stream and stack) > {profile.model_ram_budget_bytes:,} B budget of '{profile.name}'")
    if problems:
        raise ModelDoesNotFit(
            f"the {describe_bits(q)} student (hidden {q.hidden}, head {q.head}) does not fit '{profile.name}': "
            + "; ".join(problems) + f" ({footprint['how']}). Train a smaller student (--hidden) or pick another target."
        )


def describe_bits(q: QuantizedStudent) -> str:
    """'8-bit', or '8-bit (ih 16-bit)' for a model whose layers differ."""
    wide = ", ".join(f"{k} {v}-bit" for k, v in q.layer_bits.items())
    return f"{q.weight_bits}-bit" + (f" ({wide})" if wide else "")


def write_c(q: QuantizedStudent, out: Path, model_id: str, target: str) -> None:
    """The runtime sources, the generated integer spec, the model headers and the build files."""
    (out / "runtime").mkdir(parents=True, exist_ok=True)
    for src in sorted((FIRMWARE_DIR / "runtime").glob("ckd_*.[ch]")):
        shutil.copy2(src, out / "runtime" / src.name)
    (out / "runtime" / "ckd_spec.h").write_text(spec_header())
    # what a firmware tree expects: a CMake library, a Zephyr module, an example main loop
    shutil.copytree(FIRMWARE_DIR / "integration", out, dirs_exist_ok=True)
    (out / "ckd_model_params.h").write_text(params_header(q, model_id, target))
    (out / "ckd_model_weights.h").write_text(weights_header(q))


def write_golden(q: QuantizedStudent, out: Path, golden: GoldenSet, model_id: str) -> None:
    """Golden inputs, the simulator's outputs on them, and the quantized model itself."""
    result = FixedPointSimulator(q).run(golden.xq)
    (out / "golden").mkdir()
    vectors.write_inputs(out / "golden" / "inputs.bin", golden.xq)
    vectors.write_outputs(out / "golden" / "outputs.bin", result.logits, result.classes, result.h, int(model_id, 16))
    q.save(out / "quantized_student.npz")
