"""`collar-kd export RUN_DIR --target NAME --out DIR`: the export stages in order.

Quantize the run's student (on its own training windows, for the precision the run trained
it for unless told otherwise), optionally fine-tune it with fake quantization, pick golden
windows, write the C, measure it on the device side, refuse it if it does not fit, and write
the manifest. Everything goes into a temporary directory renamed into place at the end.
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path

import collar_kd
from collar_kd.distill.losses import make_loss
from collar_kd.distill.targets import cached_targets
from collar_kd.export.devices import DeviceProfile, load_device
from collar_kd.export.onnx_models import write_onnx
from collar_kd.export.exporter import (ExportOptions, GoldenSet, Precision, check_fits, check_rate, choose_precision, golden_windows,
                                       run_config, run_windows, write_c, write_golden)
from collar_kd.quant.qat import qat_finetune
from collar_kd.quant.quantizer import LAYERS, QuantizedStudent, quantize_student
from collar_kd.runs import atomic_directory, load_model, write_json
from collar_kd.training.loop import class_weights, predict_logits
from collar_kd.verify.measure import estimate_footprint, measure_footprint, measure_instructions


def export_run(run_dir: Path, out: Path, opts: ExportOptions, force: bool = False) -> dict:
    run_dir = Path(run_dir)
    opts.check()
    model, arch = load_model(run_dir, opts.student)
    profile, rate_notes = check_rate(load_device(opts.target), arch["sample_rate_hz"], opts.device_rate_hz)
    precision = choose_precision(opts, arch)
    precision.notes += rate_notes
    x, y, source = run_windows(run_dir, arch, opts.allow_changed_data)
    q = quantize_student(model, x, arch, **precision.quantizer_args())
    qat_report = None
    if opts.qat_epochs > 0:
        q, qat_report = fine_tune_quantized(run_dir, model, q, x, y, opts)
    model_id = q.model_id()
    check_fits(q, profile, estimate_footprint(q))  # before linking: an oversized model is refused, not a linker error
    golden = golden_windows(q, x, opts.windows, opts.seed)
    inputs = {"run": run_dir, "run's data": run_config(run_dir).data.path}
    onnx_out = atomic_directory(opts.onnx_dir, force=force, inputs={**inputs, "export": out}) if opts.onnx_dir else nullcontext()
    with atomic_directory(out, force=force, inputs=inputs) as tmp, onnx_out as onnx_tmp, \
            tempfile.TemporaryDirectory() as build:
        write_c(q, tmp, model_id, profile.name)
        footprint, image = measure_footprint(q, tmp, profile, Path(build))
        check_fits(q, profile, footprint)
        write_golden(q, tmp, golden, model_id)
        manifest = export_manifest(run_dir, opts, arch, profile, q, model_id, precision, source, golden, footprint,
                                   model.mults_per_window(q.window_length), qat_report)
        if opts.count_instructions:
            manifest.update(measure_instructions(image, tmp, profile, int(model_id, 16)))
        if onnx_tmp is not None:
            # both atomic: a model that fails its check leaves neither directory behind
            floats = {"teacher": load_model(run_dir, "teacher")[0], opts.student: model}
            manifest["onnx"] = {"dir": str(opts.onnx_dir), "models": write_onnx(floats, x, onnx_tmp)}
            write_json(onnx_tmp / "onnx_manifest.json", {"run_dir": str(run_dir), "classes": q.classes,
                                                         "window_length": q.window_length, "sample_rate_hz": q.sample_rate_hz,
                                                         "input": "windows: float32 (batch, window_length, 3), g",
                                                         "models": manifest["onnx"]["models"]})
        write_json(tmp / "manifest.json", manifest)
    return manifest


def fine_tune_quantized(run_dir: Path, model, q: QuantizedStudent, x, y, opts: ExportOptions):
    """QAT with the run's own KD settings and class weights, towards its final teacher's soft
    labels on the windows as they are (no augmentation here, so cached labels are right)."""
    cfg = run_config(run_dir)
    teacher, _ = load_model(run_dir, "teacher")
    weights = class_weights(y, len(q.classes), cfg.class_weighting)
    q, _, report = qat_finetune(model, q, x, y, cached_targets(predict_logits(teacher, x)), make_loss(cfg.kd),
                                opts.qat_epochs, opts.seed, weights=weights)
    report.update(alpha=cfg.kd.alpha, alpha_schedule=cfg.kd.alpha_schedule, temperature=cfg.kd.temperature)
    return q, report


def export_manifest(run_dir: Path, opts: ExportOptions, arch: dict, profile: DeviceProfile, q: QuantizedStudent,
                    model_id: str, precision: Precision, source: str, golden: GoldenSet, footprint: dict,
                    mults: int, qat_report: dict | None) -> dict:
    return {
        "collar_kd": collar_kd.__version__,
        "model_id": model_id,
        "target": profile.name,
        "device": {k: getattr(profile, k) for k in ("cpu", "qemu_machine", "clock_hz", "flash_bytes", "ram_bytes", "dsp",
                                                    "sample_rate_hz")},
        "run_dir": str(run_dir),
        "student": opts.student,
        # How the run trained student_kd (method, weight bits it was trained for).
        "trained_by": arch.get("student_kd_method") if opts.student == "student_kd" else {"name": "none"},
        "precision_notes": precision.notes,
        "classes": q.classes,
        "sample_rate_hz": q.sample_rate_hz,
        "window_length": q.window_length,
        "hidden": q.hidden,
        "head": q.head,
        "weight_bits": q.weight_bits,
        "layer_bits": {name: q.bits(name) for name in LAYERS},  # every layer's word length (its kernel)
        "calibration": q.calibration,
        "weight_formats": q.weight_formats,
        "rounding": q.rounding,
        "frac": q.frac,
        "shifts": {k: v.tolist() for k, v in q.shifts.items()} | {"gate": q.gate_shift},  # per output row
        "row_frac": q.row_frac,
        "logit_frac": q.logit_frac,
        "bias_clamped": q.bias_clamped,
        "calibration_data": source,
        "golden_windows": golden.groups,
        "adversarial_kinds": golden.adversarial_kinds,
        "shared_real_source": golden.shared_real_source,
        "footprint": footprint,
        "multiplications_per_window": mults,
        "instructions_per_window": None,
        "instructions_note": "not measured: export with --count-instructions (QEMU TCG plugin), or see make bench-mcu",
        "qat": qat_report,
    }
