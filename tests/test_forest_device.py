"""The random-forest baseline on the device: emlearn's C for the run's forest after the window
statistics in float C, against emlearn's own host prediction (bit for bit, on the host and under
QEMU) and against the Python forest (the same classes but for rare float rounding at thresholds)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from collar_kd.evaluation.baseline import window_features
from collar_kd.export import vectors
from collar_kd.export.devices import load_device
from collar_kd.export.forest import emlearn_model, read_features_output, scale_features, write_features_file, write_forest_c
from collar_kd.verify.build import build_forest_arm, build_forest_host
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.runs import load_forest
from collar_kd.verify.build import run_qemu

HAVE_QEMU = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))


@pytest.fixture(scope="module")
def forest_c(tiny_run, tiny_export, tmp_path_factory):
    forest = load_forest(tiny_run)
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    src = tmp_path_factory.mktemp("forest-src")
    info = write_forest_c(forest, src, q.frac["x"])
    xq = vectors.read_inputs(tiny_export / "golden" / "inputs.bin")
    windows = xq.astype(np.float64) * 2.0 ** -q.frac["x"]
    return forest, src, info, xq, windows


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert "CKD-FOREST-DONE" in proc.stdout, proc.stdout + proc.stderr


def test_forest_c_equals_emlearns_host_prediction_and_the_python_forest(forest_c, tiny_export, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # emlearn compiles its host classifier under ./tmp
    forest, src, info, xq, windows = forest_c
    assert info["trees"] == len(forest.trees) and info["decision_nodes"] > 0
    exe = build_forest_host(src, tmp_path)
    model, center, scale = emlearn_model(forest)
    scaled = scale_features(window_features(windows), center, scale)
    write_features_file(tmp_path / "f.bin", scaled)
    _run([str(exe), "scaled", "f.bin", "cls.bin"], tmp_path)
    ours = np.frombuffer((tmp_path / "cls.bin").read_bytes(), "<i4")
    np.testing.assert_array_equal(ours, model.predict(scaled))  # emlearn compiles the same trees itself
    # the whole device path: window statistics in float C, then the forest
    shutil.copy2(tiny_export / "golden" / "inputs.bin", tmp_path / "in.bin")
    _run([str(exe), "features", "in.bin", "out.bin"], tmp_path)
    cls, feats = read_features_output((tmp_path / "out.bin").read_bytes(), len(xq))
    np.testing.assert_allclose(feats, window_features(windows), rtol=2e-3, atol=2e-4)
    agree = (cls == forest.predict(windows)).mean()
    assert agree >= 0.95, f"device forest agrees with the Python forest on {agree:.1%} of windows"


@pytest.mark.skipif(not HAVE_QEMU, reason="arm-none-eabi-gcc / qemu-system-arm not installed (make toolchain)")
@pytest.mark.parametrize("target", ["eartag", "collar"])
def test_forest_on_cortex_m_is_bit_exact_with_emlearns_host_prediction(forest_c, tmp_path, target, monkeypatch):
    monkeypatch.chdir(tmp_path)  # emlearn compiles its host classifier under ./tmp
    forest, src, _, _, windows = forest_c
    model, center, scale = emlearn_model(forest)
    scaled = scale_features(window_features(windows), center, scale)
    image = build_forest_arm(src, load_device(target), tmp_path / "build")
    write_features_file(tmp_path / "f.bin", scaled)
    shutil.copy2(image.elf, tmp_path / "forest.elf")
    proc = run_qemu(load_device(target), tmp_path / "forest.elf", ["scaled", "f.bin", "cls.bin"], tmp_path)
    assert "CKD-FOREST-DONE" in proc.stdout, proc.stdout + proc.stderr
    device = np.frombuffer((tmp_path / "cls.bin").read_bytes(), "<i4")
    np.testing.assert_array_equal(device, model.predict(scaled))
    # and with the same C built for the host, fed the very same float32 bits
    host = build_forest_host(src, tmp_path / "host")
    _run([str(host), "scaled", "f.bin", "host.bin"], tmp_path)
    np.testing.assert_array_equal(device, np.frombuffer((tmp_path / "host.bin").read_bytes(), "<i4"))


def test_importing_emlearn_leaves_numpy_error_handling_alone():
    """emlearn's import sets numpy.seterr(all='raise'); going through our loader must not (in a
    fresh process, where emlearn is imported for the first time)."""
    import sys

    code = ("import numpy as np; from collar_kd.export.forest import _emlearn; before = np.geterr(); _emlearn(); "
            "import emlearn; assert 'emlearn' in __import__('sys').modules; assert np.geterr() == before, np.geterr()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
