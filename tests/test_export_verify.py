"""Export and verification: files, fit checks, and a verify that really fails on a changed
weight, shift or table entry (host always; Cortex-M3/M4 under QEMU when installed)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.export.exporter import ExportOptions, ModelDoesNotFit
from collar_kd.pipeline.export_run import export_run
from collar_kd.verify.runner import verify_target

runner = CliRunner()
HAVE_QEMU = shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason="arm-none-eabi-gcc / qemu-system-arm not installed (make toolchain)")


def test_export_writes_headers_runtime_golden_and_manifest(tiny_export):
    names = {p.name for p in tiny_export.iterdir()}
    assert {"ckd_model_params.h", "ckd_model_weights.h", "runtime", "golden", "manifest.json", "quantized_student.npz"} <= names
    m = json.loads((tiny_export / "manifest.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{8}", m["model_id"])
    assert f"#define CKD_MODEL_ID 0x{m['model_id']}u" in (tiny_export / "ckd_model_params.h").read_text()
    assert sum(m["golden_windows"].values()) == 60 and m["golden_windows"]["adversarial"] > 0
    weights = (tiny_export / "ckd_model_weights.h").read_text()
    assert "static const int8_t ckd_w_hh" in weights and "ckd_sigmoid_table[CKD_ACT_TABLE_SIZE]" in weights
    assert "float" not in weights and "double" not in weights
    code = "".join(re.sub(r"/\*.*?\*/|//[^\n]*", "", p.read_text(), flags=re.S) for p in (tiny_export / "runtime").iterdir())
    for banned in ("float", "double", "malloc", "free(", "alloca"):
        assert not re.search(rf"\b{re.escape(banned)}", code), banned


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed (make toolchain)")
def test_the_budget_holds_the_streaming_firmware_not_the_model_alone(tiny_run, tiny_export, tmp_path):
    """Export measures the example firmware (the streaming loop, its ring of one window, the weight
    check, the model): more flash and RAM than the window API alone. A budget between the two is
    refused, naming flash."""
    fp = json.loads((tiny_export / "manifest.json").read_text())["footprint"]
    window = fp["window_api"]
    assert fp["flash_bytes"] > window["flash_bytes"] and fp["ram_bytes"] > window["ram_bytes"], fp
    t = json.loads((tiny_export / "manifest.json").read_text())["window_length"]
    assert fp["stream_bytes"] >= 6 * t  # the ring: three int16 per sample of a window
    profile = json.loads((Path(__file__).parents[1] / "data" / "devices" / "eartag.json").read_text())
    profile.update(name="tight_tag", model_flash_budget_bytes=(window["flash_bytes"] + fp["flash_bytes"]) // 2)
    path = tmp_path / "tight_tag.json"
    path.write_text(json.dumps(profile))
    with pytest.raises(ModelDoesNotFit, match=f"does not fit 'tight_tag'.*flash {fp['flash_bytes']:,} B.*streaming loop"):
        export_run(tiny_run, tmp_path / "out", ExportOptions(device_rate_hz=10.0, target=str(path), windows=20))
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_model_that_does_not_fit(tiny_run, tmp_path):
    profile = json.loads((Path(__file__).parents[1] / "data" / "devices" / "eartag.json").read_text())
    profile.update(name="tiny_tag", model_flash_budget_bytes=512)
    path = tmp_path / "tiny_tag.json"
    path.write_text(json.dumps(profile))
    with pytest.raises(ModelDoesNotFit, match="does not fit 'tiny_tag'.*flash"):
        export_run(tiny_run, tmp_path / "out", ExportOptions(device_rate_hz=10.0, target=str(path), windows=20))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--target", str(path), "--out", str(tmp_path / "out2"), "--windows", "20"])
    assert r.exit_code == 2 and "does not fit" in r.output


def test_export_refuses_a_model_whose_rate_the_device_does_not_have(tiny_run, tmp_path):
    """The tiny run is a 10 Hz model; the ear tag samples at 62.5 Hz."""
    r = runner.invoke(app, ["export", str(tiny_run), "--target", "eartag", "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "trained at 10 Hz but 'eartag' samples at 62.5 Hz" in r.output
    assert "--sample-rate 62.5" in r.output and "--device-rate 10" in r.output and not (tmp_path / "e").exists()
    r = runner.invoke(app, ["export", str(tiny_run), "--target", "eartag", "--device-rate", "50", "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "trained at 10 Hz but 'eartag' samples at 50 Hz" in r.output
    r = runner.invoke(app, ["export", str(tiny_run), "--target", "eartag", "--device-rate", "10", "--out", str(tmp_path / "e"),
                            "--windows", "10"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["device"]["sample_rate_hz"] == 10.0
    assert any("sensor is set to 10 Hz" in n for n in manifest["precision_notes"])


def test_export_cli_bad_target(tiny_run, tmp_path):
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--target", "smartwatch", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown device 'smartwatch'" in r.output


def _mutated(export: Path, tmp: Path, what: str) -> Path:
    out = tmp / f"mutated-{what}"
    shutil.copytree(export, out)
    p = out / "ckd_model_weights.h"
    s = p.read_text()
    name = {"weight": "ckd_w_hh", "table": "ckd_tanh_table", "shift": "ckd_s_ih"}[what]
    start = s.index("{", s.index(name)) + 1
    values = s[start : s.index("}", start)].split(",")
    i = 128 if what == "table" else 0  # tanh(0): every window passes near it
    v = int(values[i])
    values[i] = f" {v + 5 if what == 'table' else (v + 1 if what == 'shift' else (v - 1 if v > 0 else v + 1))}"
    p.write_text(s[:start] + ",".join(values) + s[s.index("}", start) :])
    return out


def test_host_verify_passes(tiny_export, tmp_path):
    v = verify_target(tiny_export, "host", tmp_path / "b")
    assert v.passed, v.detail
    assert "60 windows bit-exact" in v.line()


@pytest.mark.parametrize("what", ["weight", "shift", "table"])
def test_verify_fails_when_one_weight_shift_or_table_entry_changes(tiny_export, tmp_path, what):
    v = verify_target(_mutated(tiny_export, tmp_path, what), "host", tmp_path / "b")
    assert not v.passed
    assert v.line().startswith("CKD-VERIFY FAIL host")
    mm = v.mismatch
    assert mm["windows_differing"] >= 1 and mm["tensor"] in ("a", "gi", "gh", "r", "z", "n", "h", "y", "logits")
    expected_first = {"weight": "gh", "shift": "gi", "table": "n"}[what]
    assert mm["tensor"] == expected_first, mm
    assert f"window {mm['window']}, time step" in v.detail


@needs_qemu
@pytest.mark.parametrize("target", ["eartag", "collar"])
def test_qemu_verify_passes_and_catches_a_changed_weight(tiny_export, tmp_path, target):
    v = verify_target(tiny_export, target, tmp_path / "b")
    assert v.passed, v.detail
    bad = verify_target(_mutated(tiny_export, tmp_path, "weight"), target, tmp_path / "b2")
    assert not bad.passed and bad.mismatch["tensor"] == "gh"


def test_verify_cli(tiny_export, tmp_path):
    r = runner.invoke(app, ["verify", str(tiny_export), "--target", "host", "--build-dir", str(tmp_path / "b")])
    assert r.exit_code == 0 and "CKD-VERIFY PASS host" in r.output
    r = runner.invoke(app, ["verify", str(_mutated(tiny_export, tmp_path, "weight")), "--target", "host",
                            "--build-dir", str(tmp_path / "c")])
    assert r.exit_code == 1 and "CKD-VERIFY FAIL host" in r.output


@needs_qemu
def test_instruction_counts_are_exact_and_repeatable(tiny_export, tmp_path):
    """The counting plugin (built against Debian's QEMU headers, fetched once) gives the same
    per-window counts on every run, and counts nothing outside the model's functions."""
    from collar_kd.export.devices import load_device
    from collar_kd.verify.build import build_arm
    from collar_kd.verify.instructions import count_instructions

    image = build_arm(tiny_export, load_device("eartag"), tmp_path / "img")
    a = count_instructions(image, tiny_export / "golden" / "inputs.bin", tmp_path)
    b = count_instructions(image, tiny_export / "golden" / "inputs.bin", tmp_path)
    assert a["windows"] == 60 and (a["per_window"] == b["per_window"]).all()
    assert a["per_window"].min() > 1000
    assert set(a["per_function_total"]) >= {"ckd_step", "ckd_gru_update", "ckd_fc_s8"}
    assert all(name.startswith("ckd_") for name in a["per_function_total"])
    # the instruction mix (for the cycle estimate) accounts for every counted instruction
    assert sum(n for _, n, _ in a["mix"]) == sum(a["per_function_total"].values())
    assert any(d.startswith("smlad") for _, _, d in a["mix"])


def test_export_with_one_weight_format_per_layer_verifies_and_bad_formats_exit_2(tiny_run, tiny_export, tmp_path):
    default = json.loads((tiny_export / "manifest.json").read_text())
    assert default["weight_formats"] == "row" and set(default["row_frac"]) == {"inp", "ih", "hh", "fc1"}
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--out", str(tmp_path / "t"), "--windows", "20",
                            "--weight-formats", "tensor"])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert m["weight_formats"] == "tensor" and m["row_frac"] == {}
    assert all(len(set(v)) == 1 for k, v in m["shifts"].items() if k != "gate")
    assert any("exporting 'tensor' as asked" in n for n in m["precision_notes"])
    v = verify_target(tmp_path / "t", "host", tmp_path / "b")
    assert v.passed, v.detail
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--out", str(tmp_path / "bad"), "--weight-formats", "channel"])
    assert r.exit_code == 2 and "--weight-formats" in r.output and not (tmp_path / "bad").exists()


def test_export_after_qat_and_16_bit_weights_verify(tiny_run, tmp_path):
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--target", "collar", "--out", str(tmp_path / "e16"), "--windows", "30",
                            "--weight-bits", "16", "--qat-epochs", "1", "--calibration", "mse"])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "e16" / "manifest.json").read_text())
    assert m["weight_bits"] == 16 and m["calibration"] == "mse" and m["qat"]["epochs"] == 1
    assert "static const int16_t ckd_w_hh" in (tmp_path / "e16" / "ckd_model_weights.h").read_text()
    for target in ["host", "eartag", "collar"] if HAVE_QEMU else ["host"]:  # SMLALD pairs on the M4, SMLAL on the M3
        v = verify_target(tmp_path / "e16", target, tmp_path / f"b-{target}")
        assert v.passed, (target, v.detail)


def test_export_refuses_a_bias_that_would_overflow_after_folding(tiny_export):
    """The rounding constant is folded into 8-bit biases; a row whose folded accumulator could
    leave int32 is refused by the header writer, naming the layer and the row."""
    from collar_kd.export.header import weights_header
    from collar_kd.export.layout import BiasFoldOverflow
    from collar_kd.quant.quantizer import QuantizedStudent

    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    weights_header(q)  # the model as exported is fine
    q.row_frac["fc1"] = [q.frac["w_fc1"]] * q.weights["fc1"].shape[0]  # one format for every row, so that ...
    q.frac["y"] = q.frac["w_fc1"] + q.frac["h"] - 31  # ... every shift is 31: the folded constant is 2^30
    q.biases["fc1"] = q.biases["fc1"].copy()
    q.biases["fc1"][2] = 2**30
    with pytest.raises(BiasFoldOverflow, match=r"layer 'fc1', row 2"):
        weights_header(q)


def test_export_with_a_16_bit_layer_verifies_on_host_and_devices(tiny_run, tiny_export, tmp_path):
    """The GRU's input matrix in 16 bits and the rest in 8: each layer gets its own kernel and the C
    still equals the simulator bit for bit; a changed 16-bit weight is caught."""
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--out", str(tmp_path / "mix"), "--windows", "30",
                            "--layer-weight-bits", "ih=16"])
    assert r.exit_code == 0, r.output
    assert "8-bit weights, ih 16-bit" in r.output
    m = json.loads((tmp_path / "mix" / "manifest.json").read_text())
    assert m["weight_bits"] == 8 and m["layer_bits"] == {"inp": 8, "ih": 16, "hh": 8, "fc1": 8, "fc2": 8}
    assert any("exporting inp 8-bit, ih 16-bit, hh 8-bit" in n for n in m["precision_notes"])
    weights = (tmp_path / "mix" / "ckd_model_weights.h").read_text()
    assert "static const int16_t ckd_w_ih" in weights and "static const int8_t ckd_w_hh" in weights
    assert "static const ckd_fc_s16_params_t ckd_fc_ih" in weights and "static const ckd_fc_s8_params_t ckd_fc_hh" in weights
    default = json.loads((tiny_export / "manifest.json").read_text())
    assert m["model_id"] != default["model_id"]
    targets = ["host", "eartag", "collar"] if HAVE_QEMU else ["host"]
    for target in targets:
        v = verify_target(tmp_path / "mix", target, tmp_path / f"b-{target}")
        assert v.passed, (target, v.detail)
    # One 16-bit weight moved by 1/16 of its range (one step of 16 bits rounds away unseen).
    bad = tmp_path / "mix-bad"
    shutil.copytree(tmp_path / "mix", bad)
    header = bad / "ckd_model_weights.h"
    s = header.read_text()
    start = s.index("{", s.index("ckd_w_ih")) + 1
    values = s[start : s.index("}", start)].split(",")
    values[0] = f" {int(values[0]) + (2048 if int(values[0]) < 0 else -2048)}"
    header.write_text(s[:start] + ",".join(values) + s[s.index("}", start) :])
    v = verify_target(bad, "host", tmp_path / "b-bad")
    assert not v.passed and v.mismatch["tensor"] == "gi"


def test_export_rounds_as_the_run_did_unless_asked(tiny_run, tiny_export, tmp_path):
    """The run trained with the default compensated rounding and export follows it; --rounding
    nearest is honoured, said, recorded, gives another model and still verifies bit-exactly; a bad
    value exits 2 naming the option and writes nothing."""
    default = json.loads((tiny_export / "manifest.json").read_text())
    assert default["rounding"] == "compensated" and default["trained_by"]["rounding"] == "compensated"
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--out", str(tmp_path / "near"), "--windows", "30",
                            "--rounding", "nearest"])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "near" / "manifest.json").read_text())
    assert m["rounding"] == "nearest" and m["model_id"] != default["model_id"]
    assert any("exporting with 'nearest' rounding as asked" in n for n in m["precision_notes"])
    v = verify_target(tmp_path / "near", "host", tmp_path / "b-near")
    assert v.passed, v.detail
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--out", str(tmp_path / "bad"), "--rounding", "up"])
    assert r.exit_code == 2 and "--rounding: must be one of nearest, compensated, not 'up'" in r.output, r.output
    assert not (tmp_path / "bad").exists()


def test_a_run_that_recorded_no_rounding_is_exported_as_it_was_judged():
    """Runs from before method.rounding were judged (8-bit row, report) with nearest rounding, and
    are exported so unless asked otherwise."""
    from collar_kd.export.exporter import choose_precision

    older = {"student_kd_method": {"name": "kd", "weight_bits": 8, "calibration": "range", "weight_formats": "row"}}
    assert choose_precision(ExportOptions(), older).rounding == "nearest"
    asked = choose_precision(ExportOptions(rounding="compensated"), older)
    assert asked.rounding == "compensated" and any("'nearest'" in n for n in asked.notes)
    newer = {"student_kd_method": {**older["student_kd_method"], "rounding": "compensated"}}
    assert choose_precision(ExportOptions(), newer).rounding == "compensated" and not choose_precision(ExportOptions(), newer).notes


@pytest.mark.parametrize("value, message", [("ih=12", "8 and 16-bit weights only"), ("ih=4", "8 and 16-bit weights only"),
                                            ("lstm=16", "not a layer of the student"), ("ih", "expected LAYER=BITS"),
                                            ("ih=wide", "expected LAYER=BITS")])
def test_export_refuses_a_layer_width_the_c_lacks(tiny_run, tmp_path, value, message):
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tiny_run), "--out", str(tmp_path / "bad"),
                            "--layer-weight-bits", value])
    assert r.exit_code == 2 and "--layer-weight-bits" in r.output and message in r.output, r.output
    assert not (tmp_path / "bad").exists()
