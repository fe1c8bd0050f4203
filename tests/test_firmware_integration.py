"""What a firmware tree takes from an export: the weight check at start-up, the streaming API
with overlapping windows, and the CMake library built with the ARM toolchain."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from collar_kd.export import vectors
from collar_kd.export.header import weights_crc32
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.sim import FixedPointSimulator
from collar_kd.sim.kernels import rq, sat16
from collar_kd.verify.host_lib import HostC

HAVE_ARM_CMAKE = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("cmake"))


@pytest.fixture(scope="module")
def host(tiny_export, tmp_path_factory) -> HostC:
    return HostC(tiny_export, tmp_path_factory.mktemp("hostlib"))


def test_weights_crc_matches_the_export_and_catches_one_changed_weight(host, tiny_export, tmp_path):
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    stated = int(re.search(r"#define CKD_WEIGHTS_CRC32 0x([0-9a-f]{8})u", (tiny_export / "ckd_model_params.h").read_text())[1], 16)
    assert stated == weights_crc32(q)
    assert host.lib.shim_weights_crc32() & 0xFFFFFFFF == stated
    assert host.lib.shim_weights_ok() == 1
    # one weight changed in the image (as a flash bit error would): detected
    broken = tmp_path / "export"
    shutil.copytree(tiny_export, broken)
    header = broken / "ckd_model_weights.h"
    text = header.read_text()
    m = re.search(r"(static const int8_t ckd_w_hh\[\d+\] CKD_ALIGN4 = \{\n    )(-?\d+)", text)
    header.write_text(text[: m.start(2)] + str(int(m[2]) ^ 1) + text[m.end(2) :])
    assert HostC(broken, tmp_path / "lib").lib.shim_weights_ok() == 0


@pytest.mark.parametrize("stride", [1, 7, None])
def test_stream_classifies_overlapping_windows_like_the_simulator(host, tiny_export, stride):
    """Raw counts through ckd_stream_push give, window after window, the simulator's logits on
    the windows cut at the same stride from the same samples."""
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    window = q.window_length
    stride = stride or window
    counts_shift = 12
    rng = np.random.default_rng(stride)
    n = 3 * window + 5
    g = np.cumsum(rng.normal(0, 0.05, size=(n, 3)), axis=0) + np.array([0.0, 0.0, 1.0])
    counts = np.round(g * 2**counts_shift).astype(np.int32)
    k = len(q.classes)
    cls, logits = np.zeros(n, np.int32), np.zeros((n, k), np.int32)
    got = host.lib.shim_stream(np.ascontiguousarray(counts.ravel()), n, stride, counts_shift, cls, logits)
    xq = sat16(rq(counts.astype(np.int64), counts_shift - q.frac["x"]))
    starts = range(0, n - window + 1, stride)
    sim = FixedPointSimulator(q).run(np.stack([xq[s : s + window] for s in starts]))
    assert got == len(starts)
    np.testing.assert_array_equal(logits[:got], sim.logits)
    np.testing.assert_array_equal(cls[:got], sim.classes)


def test_stream_refuses_a_stride_longer_than_a_window(host, tiny_export):
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    buf = np.zeros(16, np.int32)
    assert host.lib.shim_stream(np.zeros(3, np.int32), 1, q.window_length + 1, 12, buf, buf) == -1
    assert host.lib.shim_stream(np.zeros(3, np.int32), 1, 0, 12, buf, buf) == -1


@pytest.mark.skipif(not HAVE_ARM_CMAKE, reason="cmake / arm-none-eabi-gcc not installed (make toolchain)")
@pytest.mark.parametrize("cpu,dsp", [("cortex-m4", "ON"), ("cortex-m3", "OFF")])
def test_export_builds_as_a_cmake_library_and_links_the_example(tiny_export, tmp_path, cpu, dsp):
    """A firmware tree adds the export with add_subdirectory() and links the example main loop,
    cross-compiled with the project's strict warnings."""
    assert (tiny_export / "zephyr" / "module.yml").is_file() and (tiny_export / "zephyr" / "CMakeLists.txt").is_file()
    app = tmp_path / "app"
    app.mkdir()
    (app / "stubs.c").write_text(
        "#include <stdint.h>\n#include \"ckd_model.h\"\n"
        "void app_wait_for_sample(int32_t c[CKD_INPUTS]) { c[0] = 0; c[1] = 0; c[2] = 4096; }\n"
        "void app_report_behaviour(int cls, const int32_t logits[CKD_CLASSES]) { (void)cls; (void)logits; }\n"
        "void app_report_fault(uint32_t found, uint32_t expected) { (void)found; (void)expected; }\n"
        "int collar_kd_main_loop(void);\nint main(void) { return collar_kd_main_loop(); }\n")
    (app / "CMakeLists.txt").write_text(f"""
cmake_minimum_required(VERSION 3.13)
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
project(herd_firmware C)
set(CMAKE_C_FLAGS "-mcpu={cpu} -mthumb -O2 -Wall -Wextra -Wconversion -Wsign-conversion -Wshadow -Wvla -Werror")
set(CKD_USE_DSP {dsp} CACHE BOOL "" FORCE)
add_subdirectory({tiny_export} collar_kd_model)
add_executable(firmware.elf stubs.c {tiny_export}/examples/main_loop.c)
target_link_libraries(firmware.elf PRIVATE collar_kd_model)
target_link_options(firmware.elf PRIVATE --specs=nosys.specs --specs=nano.specs)
""")
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(app), "-B", str(build)], ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    syms = subprocess.run(["arm-none-eabi-nm", str(build / "firmware.elf")], capture_output=True, text=True, check=True).stdout
    assert "ckd_stream_push" in syms and "ckd_weights_ok" in syms
    assert ("ckd_fc_s8" in syms) and (dsp == "OFF" or "smlad" in subprocess.run(
        ["arm-none-eabi-objdump", "-d", str(build / "firmware.elf")], capture_output=True, text=True).stdout)
