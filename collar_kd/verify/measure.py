"""What an export costs on its device: flash, RAM and stack from a cross-compiled image, and
exact instructions per window under QEMU."""

from __future__ import annotations

import tempfile
from pathlib import Path

from collar_kd.errors import CollarKDError
from collar_kd.export import vectors
from collar_kd.export.devices import DeviceProfile
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.quant.spec import TABLE_SIZE, state_bytes
from collar_kd.verify.build import ArmImage, ToolchainMissing, build_arm, model_footprint, stack_usage
from collar_kd.verify.instructions import count_instructions, summarize


def estimate_footprint(q: QuantizedStudent) -> dict:
    """Flash and RAM from the array sizes alone (weights, biases, tables, state) plus an allowance
    for code and stack: what is known before anything is compiled."""
    state = state_bytes(q.hidden, q.head)
    weights = sum(w.size * q.bits(name) // 8 for name, w in q.weights.items())
    biases = 4 * sum(b.size for b in q.biases.values())
    shifts = sum(len(v) for v in q.shifts.values())  # one int8 per re-quantized row
    return {"flash_bytes": weights + biases + shifts + 2 * 2 * TABLE_SIZE + 3000, "ram_bytes": state + 512, "state_bytes": state,
            "stack_bytes": None, "how": "estimated from the arrays: + 3000 B of code, 512 B of stack"}


def measure_footprint(q: QuantizedStudent, export_dir: Path, profile: DeviceProfile,
                      build_dir: Path) -> tuple[dict, ArmImage | None]:
    """Flash and RAM on the device, measured by cross-compiling when arm-none-eabi-gcc is installed,
    otherwise estimated from the array sizes (and said so). What is measured, and checked against the
    profile's budget, is the example firmware (integration/examples/main_loop.c): the streaming API
    with its ring of one window, the weight check, the animal frame when the model was trained in one
    (CKD_FRAME), and the model, as a device links them. `window_api` is the model and its window
    kernels alone (ckd_run_window / ckd_step), the figure make bench-mcu tracks. Returns the footprint
    and the verify harness's image (for instruction counting; None without the toolchain)."""
    state = state_bytes(q.hidden, q.head)
    build_dir = Path(build_dir)
    try:
        image = build_arm(export_dir, profile, build_dir / "verify")
        firmware = build_arm(export_dir, profile, build_dir / "firmware", harness="firmware")
    except ToolchainMissing:
        estimate = estimate_footprint(q)
        return {**estimate, "how": f"{estimate['how']} (arm-none-eabi-gcc not installed)"}, None
    window, fw = model_footprint(image), model_footprint(firmware)
    loop = model_footprint(firmware, prefixes=("main_loop",))  # the firmware's static stream and state
    window_stack, stack = stack_usage(image)["bound_bytes"], stack_usage(firmware)["bound_bytes"]
    return {
        "flash_bytes": fw["text"] + fw["rodata"] + fw["data"],
        "ram_bytes": fw["data"] + fw["bss"] + loop["bss"] + stack,
        "text_bytes": fw["text"], "rodata_bytes": fw["rodata"], "data_bytes": fw["data"], "bss_bytes": fw["bss"],
        "state_bytes": state, "stream_bytes": loop["bss"] - state, "stack_bytes": stack,
        "window_api": {"flash_bytes": window["text"] + window["rodata"] + window["data"],
                       "ram_bytes": window["data"] + window["bss"] + state + window_stack, "stack_bytes": window_stack},
        "how": f"measured: the example firmware's streaming loop{' with the animal frame' if q.frame == 'animal' else ''} "
               f"and the model, arm-none-eabi-gcc -O2 for {profile.cpu}, linker map after --gc-sections; RAM: state, "
               "the stream's ring and the deepest call path's stack from -fstack-usage",
    }, image


def measure_instructions(image: ArmImage | None, export_dir: Path, profile: DeviceProfile, model_id: int) -> dict:
    """Exact instructions per golden window of the export's own target, under QEMU."""
    if image is None:
        raise CollarKDError("--count-instructions needs arm-none-eabi-gcc and qemu-system-arm (make toolchain)")
    with tempfile.TemporaryDirectory() as tmp:
        counts = count_instructions(image, Path(export_dir) / "golden" / "inputs.bin", Path(tmp))
        if vectors.read_outputs(counts["outputs"]).model_id != model_id:
            raise CollarKDError("instruction count run produced another model's output")
    return {
        "instructions_per_window": summarize(counts),
        "instructions_by_function_per_window": {f: v / counts["windows"] for f, v in sorted(counts["per_function_total"].items())},
        "instructions_note": f"exact, counted under QEMU {profile.qemu_machine} ({profile.cpu}"
                             f"{', DSP path' if profile.dsp else ''}) over the golden windows",
    }
