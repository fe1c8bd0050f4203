"""Extension by adding one file: a device profile JSON is exportable and verifiable, a method
module registers itself with its own settings and trains, runtime sources are found by glob,
and the footprint estimate holds to the real C layout."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.config import load_config
from collar_kd.errors import ConfigError
from collar_kd.export.exporter import ExportOptions
from collar_kd.methods import METHODS, resolve_settings
from collar_kd.paths import PROJECT_DATA
from collar_kd.pipeline.export_run import export_run
from collar_kd.pipeline.train_run import run_training
from collar_kd.quant.spec import state_bytes
from collar_kd.verify.build import runtime_sources
from collar_kd.verify.host_lib import HostC, shim_signatures
from tests.conftest import tiny_config_overrides

runner = CliRunner()
HAVE_QEMU = shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason="arm-none-eabi-gcc / qemu-system-arm not installed (make toolchain)")


def m7_profile(tmp_path: Path) -> Path:
    """A third board, a Cortex-M7 that QEMU emulates (mps2-an500), described only as data."""
    doc = json.loads((PROJECT_DATA / "devices" / "eartag.json").read_text())
    doc.update(name="m7board", description="test board: Cortex-M7", cpu="cortex-m7", qemu_machine="mps2-an500",
               gcc_flags=["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"], flash_bytes=4 << 20, dsp=True)
    path = tmp_path / "m7board.json"
    path.write_text(json.dumps(doc))
    return path


@needs_qemu
def test_a_new_device_profile_exports_and_verifies_with_no_code_change(tiny_run, tmp_path):
    profile = m7_profile(tmp_path)
    out = tmp_path / "export"
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--target", str(profile), "--out", str(out), "--windows", "30"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "manifest.json").read_text())["target"] == "m7board"
    r = runner.invoke(app, ["verify", str(out), "--target", "host", "--target", str(profile), "--build-dir", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert "CKD-VERIFY PASS m7board: cortex-m7 on QEMU mps2-an500" in r.output


def test_a_bad_device_profile_is_refused_naming_the_field(tiny_run, tmp_path):
    profile = m7_profile(tmp_path)
    doc = json.loads(profile.read_text())
    doc["gcc_flags"] = "-mcpu=cortex-m7"
    profile.write_text(json.dumps(doc))
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--target", str(profile), "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "gcc_flags" in r.output and not (tmp_path / "e").exists()


TOY_METHOD = '''
"""A toy distillation method: plain KD, with a setting of its own that it reports."""
from dataclasses import dataclass

from collar_kd.errors import ConfigError
from collar_kd.methods.base import MethodResult, StudentJob, register
from collar_kd.methods.plain import distill_student


@dataclass
class ToySettings:
    lr_scale: float = 0.5

    def check(self):
        if not self.lr_scale > 0:
            raise ConfigError(f"method.lr_scale: must be positive, not {self.lr_scale}")


@register("toy-kd", "a toy method from a test", ToySettings)
def train_toy(job: StudentJob) -> MethodResult:
    student, history, mode = distill_student(job, [job.teachers.main_spec], "toy student")
    return MethodResult(student, {"lr_scale": job.settings.lr_scale, "epochs_trained": len(history)})
'''


@pytest.fixture
def toy_method(tmp_path):
    path = tmp_path / "toy_method.py"
    path.write_text(TOY_METHOD)
    spec = importlib.util.spec_from_file_location("toy_method", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_method"] = module
    spec.loader.exec_module(module)
    yield "toy-kd"
    METHODS.pop("toy-kd", None)
    sys.modules.pop("toy_method", None)


def test_a_new_method_is_one_module_with_its_own_settings(toy_method, tiny_synthetic, tmp_path):
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "cv": "none", "method.name": toy_method,
                             "method.lr_scale": 0.25})
    assert resolve_settings(cfg).lr_scale == 0.25
    metrics = run_training(cfg, tmp_path / "run")
    assert metrics["method"] == {"name": "toy-kd", "description": "a toy method from a test"}
    record = json.loads((tmp_path / "run" / "method.json").read_text())
    assert record["final"]["lr_scale"] == 0.25 and record["final"]["epochs_trained"] == cfg.student.epochs
    assert record["settings"]["method"]["lr_scale"] == 0.25
    # Its settings are checked by its own rules, and nobody else's settings are accepted.
    bad = load_config(None, {**tiny_config_overrides(tiny_synthetic), "method.name": toy_method, "method.lr_scale": -1.0})
    with pytest.raises(ConfigError, match=r"method\.lr_scale: must be positive"):
        resolve_settings(bad)
    bad = load_config(None, {**tiny_config_overrides(tiny_synthetic), "method.name": toy_method, "method.mode": "x"})
    with pytest.raises(ConfigError, match=r"method\.mode: unknown setting.*settings of method 'toy-kd': lr_scale"):
        resolve_settings(bad)


def test_runtime_sources_are_found_by_glob(tiny_export, tmp_path):
    names = {p.name for p in runtime_sources(tiny_export)}
    assert {"ckd_model.c", "ckd_fc_s8.c", "ckd_act.c", "ckd_gru.c"} <= names
    copy = tmp_path / "export"
    shutil.copytree(tiny_export, copy)
    (copy / "runtime" / "ckd_extra_kernel.c").write_text("int ckd_extra_kernel(void);\nint ckd_extra_kernel(void) { return 1; }\n")
    assert "ckd_extra_kernel.c" in {p.name for p in runtime_sources(copy)}


def test_host_wrapper_interface_comes_from_the_c_header_and_state_layout_matches(tiny_export, tmp_path):
    sigs = shim_signatures()
    assert {"shim_fc_s8", "shim_run_windows", "shim_state_bytes"} <= set(sigs)
    assert len(sigs["shim_gru_update"][1]) == 10
    manifest = json.loads((tiny_export / "manifest.json").read_text())
    host = HostC(tiny_export, tmp_path)
    assert host.state_bytes() == state_bytes(manifest["hidden"], manifest["head"])
    assert manifest["footprint"]["state_bytes"] == host.state_bytes()
