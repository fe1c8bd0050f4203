"""make bench-mcu: the cost of the exported student on the MCUs, measured, per target.

For each configuration it exports a student of the benchmark size, links the verify image for
the device's core, and runs it under QEMU with an instruction-counting TCG plugin:
flash (text + rodata + data of model and runtime, from the linker map after --gc-sections),
RAM (data + bss + the caller's state struct) and the worst-case stack bound (-fstack-usage),
exact instructions per window (per function, too), multiplications per window and per
instruction. Beside them, CMSIS-NN's arm_fully_connected_s16 and _s8 built from ../shared/peers
(never copied here) at the same shapes, on the same QEMU machines, with the same counter, and the
ratios, and what the animal's own frame (data.frame = "animal", ckd_frame.c) adds to a window.
Writes bench/results/mcu.json. Cycle figures are not measured here (no
cycle-accurate Cortex-M model on this machine); the time per window is an estimate at one
instruction per cycle and is labelled so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import WORK, machine, write_result  # noqa: E402

from collar_kd.config import load_config  # noqa: E402
from collar_kd.evaluation.baseline import ForestBaseline  # noqa: E402
from collar_kd.export import vectors  # noqa: E402
from collar_kd.export.devices import load_device  # noqa: E402
from collar_kd.export.exporter import ExportOptions, ModelDoesNotFit  # noqa: E402
from collar_kd.pipeline.export_run import export_run  # noqa: E402
from collar_kd.paths import FIRMWARE_DIR  # noqa: E402
from collar_kd.pipeline.train_run import run_training  # noqa: E402
from collar_kd.verify.build import ToolchainMissing, build_arm, model_footprint, require, stack_usage  # noqa: E402
from collar_kd.verify.build import arm_flags, link_arm_image  # noqa: E402
from collar_kd.verify.cycles import estimate_cycles, profile_energy  # noqa: E402
from collar_kd.verify.instructions import count_instructions, function_ranges, run_counted  # noqa: E402
from collar_kd.verify.target_shim import ShimBatch  # noqa: E402

# The student the accuracy benchmark uses: hidden 32, head 32, 50-sample windows.
STUDENT = {"student.hidden": 32, "student.head": 32, "data.window": "2s", "data.stride": "1s"}
CONFIGS = [  # (target, weight bits, DSP path, layers of their own width)
    ("eartag", 8, True, {}),
    ("eartag", 8, False, {}),
    ("eartag", 8, True, {"ih": 16}),
    ("eartag", 8, True, {"inp": 16, "ih": 16}),
    ("eartag", 16, True, {}),
    ("collar", 8, False, {}),
    ("collar", 8, False, {"inp": 16, "ih": 16}),
    ("collar", 16, False, {}),
]
WINDOWS = 200
PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
CMSIS_SOURCES = ["FullyConnectedFunctions/arm_fully_connected_s16.c", "FullyConnectedFunctions/arm_fully_connected_s8.c",
                 "NNSupportFunctions/arm_nn_vec_mat_mult_t_s16.c", "NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c"]
PEER_WINDOWS = 20


# The forest baseline on the device: as every run trains it, and two smaller ones a user might flash
# instead, each also trained on 4 turned copies of every window (rf_turned_copies: +0.08 to +0.10
# MCC in bench/pilots/small_forest_turned.py). (name, trees, max_depth, turned copies)
FORESTS = [("as-trained-200-trees", 200, None, 0), ("20-trees-depth-8", 20, 8, 0), ("10-trees-depth-6", 10, 6, 0),
           ("20-trees-depth-8-turned-4", 20, 8, 4), ("10-trees-depth-6-turned-4", 10, 6, 4)]
FOREST_SEEDS = (0, 1, 2)


def forest_data():
    """bench-accuracy's windows of ../shared/datasets/wasp_cow_walking (10 Hz, 5 s: 50 samples, as the
    GRU here), or None when the dataset is missing."""
    from accuracy import SETTINGS as ACC
    from collar_kd.data import load_recordings, windows_for
    from collar_kd.paths import WASP_DATASET

    if not WASP_DATASET.is_dir():
        return None
    cfg = load_config(None, {k: v for k, v in ACC.items() if k.startswith(("data.", "augment_"))}
                      | {"data.path": str(WASP_DATASET)})
    rec, cmap = load_recordings(cfg.data, seed=0)
    return windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, cfg.data.frame), cfg


def fit_forest(x, y, n_classes: int, trees: int, depth, seed: int, copies: int, limits) -> ForestBaseline:
    """As TeacherPool.forest trains it: the windows, then `copies` turned copies drawn with the seed."""
    from collar_kd.distill.teachers import TeacherViews

    if copies:
        x, y = TeacherViews(copies, limits, seed).training_set(x, y)
    return ForestBaseline.fit(x, y, n_classes, trees, seed, "sqrt", 1, max_depth=depth)


def forest_loao_mcc(win, trees: int, depth, seed: int, copies: int, limits) -> float:
    from sklearn.metrics import matthews_corrcoef

    pred = np.zeros_like(win.y)
    for animal in np.unique(win.animal):
        test = win.animal == animal
        f = fit_forest(win.x[~test], win.y[~test], len(win.classes), trees, depth, seed, copies, limits)
        pred[test] = f.predict(win.x[test])
    return float(matthews_corrcoef(win.y, pred))


def measure_forests(tag_export: Path) -> dict:
    """Each forest trained on every animal, converted by emlearn, run under QEMU on both cores after
    the window statistics in float C: flash, RAM, instructions and estimated energy per window, and
    its leave-one-animal-out MCC on the same windows (3 seeds)."""
    from collar_kd.export.forest import write_forest_c
    from collar_kd.verify.build import build_forest_arm
    from collar_kd.quant.quantizer import QuantizedStudent

    data = forest_data()
    if data is None:
        return {"missing": "../shared/datasets/wasp_cow_walking not found: the forest was not measured"}
    win, cfg = data
    frac_x = QuantizedStudent.load(tag_export / "quantized_student.npz").frac["x"]
    golden = tag_export / "golden" / "inputs.bin"
    out = {"data": {"dataset": "wasp_cow_walking", "windows": int(len(win.y)), "window_length": int(win.length),
                    "sample_rate_hz": float(win.sample_rate), "classes": list(win.classes)},
           "windows_counted": "the GRU's golden windows of the ear-tag export (same int16 inputs)", "forests": []}
    limits = cfg.augmentation().rotation_limits  # bench-accuracy's rotations (15/15/45 degrees)
    for name, trees, depth, copies in FORESTS:
        mccs = [forest_loao_mcc(win, trees, depth, s, copies, limits) for s in FOREST_SEEDS]
        forest = fit_forest(win.x, win.y, len(win.classes), trees, depth, 0, copies, limits)
        src = WORK / "mcu" / f"forest-{name}" / "src"
        shutil.rmtree(src, ignore_errors=True)
        info = write_forest_c(forest, src, frac_x)
        entry = {"name": name, "trees": trees, "max_depth": depth, "turned_copies": copies, **info,
                 "loao_mcc": {"mean": float(np.mean(mccs)), "sd": float(np.std(mccs, ddof=1)) if len(mccs) > 1 else None, "per_seed": mccs},
                 "targets": {}}
        for target in ("eartag", "collar"):
            profile = load_device(target)
            work = WORK / "mcu" / f"forest-{name}" / target
            # linked against 4 MB of flash, so that a forest too big for the part is still measured
            big = load_device(str(profile_variant(target, "4MB", flash_bytes=4 * 1024 * 1024)))
            image = build_forest_arm(src, big, work, max_window=int(win.length))
            fp = model_footprint(image)
            stack = stack_usage(image)
            nm = subprocess.run(["arm-none-eabi-nm", "-S", str(image.elf)], capture_output=True, text=True, check=True).stdout
            context = next(int(p[1], 16) for p in (line.split() for line in nm.splitlines()) if len(p) == 4 and p[3] == "ctx")
            flash = fp["text"] + fp["rodata"] + fp["data"]
            ranges, mark = function_ranges(image.elf, lambda n, a, syms: True)
            reach = reachable(image.elf, ranges, ("ckd_window_features_q", "ckd_forest_classify"))
            shutil.copy2(golden, work / "in.bin")
            c = run_counted(image.elf, image.profile, reach, mark, ["windows", "in.bin", "cls.bin"], work, "CKD-FOREST-DONE")
            per_window = c["per_window"][0::2]  # marks before and after each window's features + trees
            cyc = estimate_cycles(c["mix"], profile.cpu)
            cycles = cyc.estimate / len(per_window)
            entry["targets"][target] = {
                "cpu": profile.cpu, "flash_bytes": flash, "flash_detail": fp,
                "fits_model_flash_budget": flash <= profile.model_flash_budget_bytes,
                "fits_part_flash": flash <= profile.flash_bytes,
                "ram_bytes": fp["data"] + fp["bss"] + context, "stack_bytes_bound": stack["bound_bytes"],
                "ram_with_stack_bytes": fp["data"] + fp["bss"] + context + stack["bound_bytes"],
                "ram_detail": {"feature_context": context, "data": fp["data"], "bss": fp["bss"]},
                "instructions_per_window": {"mean": float(per_window.mean()), "min": int(per_window.min()), "max": int(per_window.max())},
                "estimated_cycles_per_window": cycles,
                "estimated_energy": profile_energy(cycles, profile),
                "unknown_mnemonics": cyc.unknown,
            }
        out["forests"].append(entry)
    return out


def reachable(elf: Path, ranges: list, roots: tuple[str, ...]) -> list:
    """The functions `roots` call, directly or not (BL/B to a symbol), from the disassembly: the
    features, the trees and the float and math library routines they use (soft float on the M3)."""
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    calls, current = {}, None
    for line in text.splitlines():
        if line.endswith(">:") and " <" in line:
            current = line.split("<", 1)[1][:-2]
            calls[current] = set()
        elif current and "\tb" in line and "<" in line:
            target = line.rsplit("<", 1)[1].rstrip(">").split("+")[0]
            if target != current:
                calls[current].add(target)
    seen, todo = set(), list(roots)
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo += sorted(calls.get(f, ()))
    return [r for r in ranges if r[2] in seen]


def measure_cmsis(target: str, dsp: bool, shapes: dict) -> dict:
    """CMSIS-NN's arm_fully_connected_s16 / _s8, built from ../shared/peers (not copied), at the
    student's dense shapes, on the same QEMU machine with the same instruction counter."""
    profile = load_device(target)
    work = WORK / "mcu" / f"cmsis-{target}-{'dsp' if dsp else 'portable'}"
    flags = [*(["-DARM_MATH_DSP"] if dsp and profile.dsp else []), "-std=c11", f"-I{PEERS / 'cmsis-nn' / 'Include'}",
             f"-I{PEERS / 'cmsis-core' / 'Include'}", *(f"-D{k}={v}" for k, v in shapes.items())]
    sources = [*(PEERS / "cmsis-nn" / "Source" / s for s in CMSIS_SOURCES), Path(__file__).parent / "cmsis_nn" / "fc_shapes_main.c"]
    elf = link_arm_image(sources, flags, profile, work, dsp, name="fc_shapes", strict=False).elf  # third-party code
    ranges, mark = function_ranges(elf, lambda name, address, syms: name.startswith("arm_"))
    out = {"cpu": profile.cpu, "qemu_machine": profile.qemu_machine, "dsp": dsp and profile.dsp,
           "cflags": " ".join(f for f in [*arm_flags(profile, dsp), *flags] if not f.startswith("-I")),
           "source": "../shared/peers/cmsis-nn (ARM-software/CMSIS-NN, see its README), built here, not copied", "kernels": {}}
    for kernel in ("s16", "s8"):
        c = run_counted(elf, profile, ranges, mark, [kernel, str(PEER_WINDOWS)], work, "CKD-PEER-DONE")
        per_window = c["per_window"]
        out["kernels"][f"arm_fully_connected_{kernel}"] = {
            "instructions_per_window": float(per_window.mean()), "instructions_per_window_min_max": [int(per_window.min()), int(per_window.max())],
            "windows_counted": c["windows"],
            "code_bytes": sum(b - a for a, b, n in ranges if c["per_function_total"].get(n, 0) > 0),
            "functions": {n: v / c["windows"] for n, v in sorted(c["per_function_total"].items()) if v},
            "activations": "int16" if kernel == "s16" else "int8 (not the student's int16: for reference)",
        }
    return out


def profile_variant(target: str, suffix: str, **changes) -> Path:
    """A copy of a shipped device profile with some fields changed, written under the bench's work
    directory: what is measured beyond what the real part or budget allows."""
    doc = json.loads((FIRMWARE_DIR.parent / "data" / "devices" / f"{target}.json").read_text())
    doc.update(name=f"{target}-{suffix}", **changes)
    path = WORK / "mcu" / f"{target}-{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def unbudgeted(target: str) -> Path:
    """The device profile with the model budget raised to the whole part, so that a model the
    exporter refuses for the budget can still be measured (the refusal is recorded)."""
    doc = load_device(target)
    return profile_variant(target, "unbudgeted", model_flash_budget_bytes=doc.flash_bytes, model_ram_budget_bytes=doc.ram_bytes)


def measure(run: Path, target: str, bits: int, dsp: bool, layers: dict[str, int]) -> dict:
    name = f"{target}-{bits}bit{''.join(f'-{k}{v}' for k, v in layers.items())}-{'dsp' if dsp else 'portable'}"
    export = WORK / "mcu" / name / "export"
    refused = None
    # The bench measures the kernels, not a deployment: the device's sensor is taken to run at the model's rate.
    rate = json.loads((run / "models" / "models.json").read_text())["sample_rate_hz"]
    try:
        manifest = export_run(run, export, ExportOptions(target=target, weight_bits=bits, layer_weight_bits=layers,
                                                         windows=WINDOWS, device_rate_hz=rate),
                              force=True)
    except ModelDoesNotFit as e:
        refused = str(e)
        manifest = export_run(run, export, ExportOptions(target=str(unbudgeted(target)), weight_bits=bits,
                                                         layer_weight_bits=layers, windows=WINDOWS,
                                                         device_rate_hz=rate), force=True)
    profile = load_device(target)
    work = WORK / "mcu" / name / "build"
    image = build_arm(export, profile, work, dsp=dsp)
    fp = model_footprint(image)
    stack = stack_usage(image)
    c = count_instructions(image, export / "golden" / "inputs.bin", work)
    golden = vectors.read_outputs(export / "golden" / "outputs.bin")
    got = vectors.read_outputs(c["outputs"])
    exact = bool(np.array_equal(got.logits, golden.logits) and np.array_equal(got.h, golden.h))
    h, m, k, t = manifest["hidden"], manifest["head"], len(manifest["classes"]), manifest["window_length"]
    dense_macs = t * (3 * h + 2 * 3 * h * h) + h * m + m * k
    gru_matrix_macs = t * 2 * 3 * h * h
    matrix_fns = [f for f in c["per_function_total"] if f.startswith(("ckd_fc_", "ckd_row_"))]
    matrix_instr = sum(c["per_function_total"][f] for f in matrix_fns) / c["windows"]
    per_window = c["per_window"]
    state = manifest["footprint"]["state_bytes"]
    cyc = estimate_cycles(c["mix"], profile.cpu)
    cycles = {k: v / c["windows"] for k, v in (("estimate", cyc.estimate), ("low", cyc.low), ("high", cyc.high))}
    power = None
    if profile.energy:
        power = {bound: profile_energy(cycles[bound], profile) for bound in ("estimate", "high")}
        power["assumptions"] = profile.energy["source"]
    flash = fp["text"] + fp["rodata"] + fp["data"]
    ram = fp["data"] + fp["bss"] + state
    return {
        "config": name, "target": target, "cpu": profile.cpu, "qemu_machine": profile.qemu_machine,
        "weight_bits": bits, "layer_bits": manifest["layer_bits"], "dsp": dsp and profile.dsp, "model_id": manifest["model_id"],
        "hidden": h, "head": m, "classes": k, "window_length": t,
        "flash_bytes": flash, "flash_detail": {"text": fp["text"], "rodata": fp["rodata"], "data": fp["data"]},
        "ram_bytes": ram, "ram_detail": {"data": fp["data"], "bss": fp["bss"], "state": state},
        # What export checks against the budget: the example firmware's streaming loop with the model.
        "streaming_firmware": {k: manifest["footprint"].get(k) for k in ("flash_bytes", "ram_bytes", "stream_bytes", "how")},
        "stack_bytes_bound": stack["bound_bytes"], "stack_frames": stack["frames"],
        "stack_deepest_path_bytes": stack["deepest_path_bytes"], "stack_calls_outside_the_model": stack["calls_outside_the_model"],
        "ram_with_stack_bytes": ram + stack["bound_bytes"],
        "instructions_per_window": {"min": int(per_window.min()), "mean": float(per_window.mean()), "max": int(per_window.max())},
        "instructions_per_step_mean": float(per_window.mean()) / t,
        "instructions_by_function_per_window": {f: v / c["windows"] for f, v in sorted(c["per_function_total"].items())},
        "multiplications_per_window": manifest["multiplications_per_window"],
        "multiplications_per_instruction": manifest["multiplications_per_window"] / float(per_window.mean()),
        "dense_macs_per_window": dense_macs,
        "gru_matrix_macs_per_window": gru_matrix_macs,
        "matrix_instructions_per_window": matrix_instr,
        "matrix_macs_per_instruction": dense_macs / matrix_instr,
        "estimated_cycles_per_window": {**cycles, "unknown_mnemonics": cyc.unknown,
                                        "how": "an ESTIMATE: the exact instruction mix x the Cortex-M TRM timings (collar_kd/verify/cycles.py)"},
        "estimated_energy": power,
        "windows_counted": c["windows"],
        "bit_exact_on_this_image": exact,
        "export_refused_for_budget": refused,
    }


FRAME_FUNCTIONS = ("ckd_frame_add", "ckd_frame_update", "ckd_frame_turn")


def measure_frame(export: Path, target: str, dsp: bool, model: dict) -> dict:
    """What data.frame = "animal" adds to a window on the device (ckd_stream_push with CKD_FRAME 1):
    one ckd_frame_add per new sample, one ckd_frame_update per window and one ckd_frame_turn per
    sample of the window. Counted on the test shim's shim_frame_stream over the golden windows as
    one stream, the heading updated every stride (half a window, as the bench's run)."""
    profile = load_device(target)
    work = WORK / "mcu" / f"frame-{target}-{'dsp' if dsp else 'portable'}"
    image = build_arm(export, profile, work, dsp=dsp, harness="shim")
    t = model["window_length"]
    stride = t // 2
    samples = vectors.read_inputs(export / "golden" / "inputs.bin").reshape(-1, 3)
    batch = ShimBatch()
    chunk = 8 * t  # one call's samples in and turned out fit the shim's 10 KB arena
    for start in range(0, min(len(samples), 5 * chunk) - chunk + 1, chunk):
        part = np.ascontiguousarray(samples[start:start + chunk])
        batch.add("shim_frame_stream", part, chunk, stride, np.zeros_like(part), np.zeros(2, np.int32))
    (work / "calls.bin").write_bytes(batch.encode())
    ranges, mark = function_ranges(image.elf, lambda name, address, syms: name in FRAME_FUNCTIONS)
    c = run_counted(image.elf, profile, ranges, mark, ["calls.bin", "results.bin"], work, "CKD-SHIM-DONE")
    n = chunk * len(batch.calls)
    calls = {"ckd_frame_add": n, "ckd_frame_update": n // stride, "ckd_frame_turn": n}
    per_call = {f: c["per_function_total"][f] / n for f, n in calls.items()}
    per_window = stride * per_call["ckd_frame_add"] + per_call["ckd_frame_update"] + t * per_call["ckd_frame_turn"]
    text = {r[2]: r[1] - r[0] for r in ranges}
    return {"instructions_per_call": per_call, "instructions_per_window": per_window,
            "fraction_of_the_model_window": per_window / model["instructions_per_window"]["mean"],
            "text_bytes": sum(text.values()), "text_bytes_by_function": text, "stride_samples": stride,
            "samples_counted": n}


def main() -> None:
    try:
        require("arm-none-eabi-gcc")
        require("qemu-system-arm")
    except ToolchainMissing as e:
        print(f"bench-mcu: {e}. Nothing was measured.", file=sys.stderr)
        sys.exit(2)
    started = time.time()
    run = WORK / "mcu" / "run"
    if not (run / "models" / "student_kd.safetensors").exists():
        # Cost depends on the architecture and window length, not on what the weights learned.
        cfg = load_config(None, {**STUDENT, "cv": "none", "teacher.epochs": 1, "student.epochs": 2, "teacher.filters": [16, 16, 16]})
        run_training(cfg, run, force=True)
    results = [measure(run, *c) for c in CONFIGS]
    by = {r["config"]: r for r in results}
    tag, m3 = by["eartag-8bit-dsp"], by["collar-8bit-portable"]
    shapes = {"H": tag["hidden"], "M": tag["head"], "C": tag["classes"], "STEPS": tag["window_length"]}
    peers = {"missing": f"{PEERS} not found: CMSIS-NN was not measured"}
    if (PEERS / "cmsis-nn" / "Include").is_dir():
        peers = {name: measure_cmsis(target, dsp, shapes) for name, target, dsp in
                 (("cortex-m4", "eartag", True), ("cortex-m3", "collar", False))}
        for name, ours in (("cortex-m4", tag), ("cortex-m3", m3)):
            for kernel, k in peers[name]["kernels"].items():
                k["macs_per_instruction"] = ours["dense_macs_per_window"] / k["instructions_per_window"]
                k["collar_kd_speedup"] = k["instructions_per_window"] / ours["matrix_instructions_per_window"]
    cmsis_s16 = peers.get("cortex-m4", {}).get("kernels", {}).get("arm_fully_connected_s16")
    forests = measure_forests(WORK / "mcu" / "eartag-8bit-dsp" / "export")
    frame = {r["config"]: measure_frame(WORK / "mcu" / r["config"] / "export", r["target"], r["dsp"], r)
             for r in (tag, m3)}
    doc = {
        "what": "cost of model + runtime on the MCU, measured under QEMU with an instruction-counting plugin",
        "student": {k.split(".")[1]: v for k, v in STUDENT.items() if k.startswith("student")},
        "configs": results,
        "peers_cmsis_nn": peers,
        "forest_on_device": forests,
        "animal_frame_on_device": frame,
        "targets": {
            "m4_dense_macs_per_instruction_ge_0.55": {"measured": round(tag["matrix_macs_per_instruction"], 3),
                                                      "met": tag["matrix_macs_per_instruction"] >= 0.55},
            "m4_dense_speedup_over_cmsis_nn_s16_ge_2.4": {
                "measured": round(cmsis_s16["collar_kd_speedup"], 3) if cmsis_s16 else None,
                "met": bool(cmsis_s16 and cmsis_s16["collar_kd_speedup"] >= 2.4)},
            "m4_window_le_800000_instructions": {"measured": tag["instructions_per_window"]["mean"],
                                                 "met": tag["instructions_per_window"]["mean"] <= 800_000},
            # the starting point: 1,630,230 on the M3 for 1,183,305 on the M4; the same ratio
            "m3_window_le_1102166_instructions": {"measured": m3["instructions_per_window"]["mean"],
                                                  "met": m3["instructions_per_window"]["mean"] <= 1_102_166},
            "eartag_flash_le_12800_bytes": {"measured": tag["flash_bytes"], "met": tag["flash_bytes"] <= 12_800},
            "eartag_ram_incl_state_and_stack_le_1024_bytes": {"measured": tag["ram_with_stack_bytes"],
                                                              "met": tag["ram_with_stack_bytes"] <= 1024},
            "every_image_bit_exact": {"measured": {r["config"]: r["bit_exact_on_this_image"] for r in results},
                                      "met": all(r["bit_exact_on_this_image"] for r in results)},
        },
        "cycles_note": ("no cycle-accurate Cortex-M simulator here: instruction counts are exact; cycles, times and energy are "
                        "ESTIMATES from the counted instruction mix and the Cortex-M4/M3 TRM timings (zero wait states, no "
                        "interrupts; see collar_kd/verify/cycles.py), with low/high bounds; energy uses each profile's "
                        "current-per-MHz, supply, window rate and battery, which are datasheet figures and assumptions"),
        "wall_time_s": round(time.time() - started, 1),
        "machine": machine(),
    }
    path = write_result("mcu.json", doc)
    print(f"wrote {path}")
    for r in results:
        print(f"  {r['config']:24s} flash {r['flash_bytes']:6d} B  RAM {r['ram_bytes']:5d} B + stack {r['stack_bytes_bound']:4d} B  "
              f"{r['instructions_per_window']['mean']:11,.0f} instr/window  {r['multiplications_per_instruction']:.3f} mult/instr  "
              f"matrix {r['matrix_macs_per_instruction']:.3f} MAC/instr  exact={r['bit_exact_on_this_image']}")
        cyc, pw = r["estimated_cycles_per_window"], r["estimated_energy"]
        if pw:
            print(f"  {'':24s} estimated {cyc['estimate']:,.0f} cycles/window ({cyc['low']:,.0f}..{cyc['high']:,.0f}): "
                  f"{pw['estimate']['ms_per_window']:.2f} ms, {pw['estimate']['uj_per_window']:.0f} uJ per window, "
                  f"{pw['estimate']['mah_per_day']:.3f} mAh/day ({pw['estimate'].get('battery_percent_per_day', 0):.4f}% of the battery)")
    for name, p in peers.items():
        for kernel, k in (p.get("kernels", {}) if isinstance(p, dict) else {}).items():
            print(f"  CMSIS-NN {kernel} on {name}: {k['instructions_per_window']:,.0f} instr/window, "
                  f"{k['macs_per_instruction']:.3f} MAC/instr; collar-kd is {k['collar_kd_speedup']:.2f}x faster")
    if "missing" in peers:
        print(f"  {peers['missing']}")
    for f in forests.get("forests", []):
        for target, t in f["targets"].items():
            pw = t["estimated_energy"] or {}
            print(f"  forest {f['name']:22s} on {target}: LOAO MCC {f['loao_mcc']['mean']:.3f}, flash {t['flash_bytes']:,} B "
                  f"({'fits' if t['fits_model_flash_budget'] else 'over'} the model budget), RAM+stack {t['ram_with_stack_bytes']:,} B, "
                  f"{t['instructions_per_window']['mean']:,.0f} instr/window, ~{pw.get('uj_per_window', float('nan')):.0f} uJ")
    for name, f in frame.items():
        print(f"  animal frame on {name}: {f['instructions_per_window']:,.0f} instr/window "
              f"({100 * f['fraction_of_the_model_window']:.2f}% of the model's), text {f['text_bytes']} B; per call "
              + ", ".join(f"{k} {v:.1f}" for k, v in f["instructions_per_call"].items()))
    if "missing" in forests:
        print(f"  {forests['missing']}")
    for k, v in doc["targets"].items():
        print(f"  target {k}: {v['measured']} {'met' if v['met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
