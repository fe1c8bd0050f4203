"""`collar-kd export --onnx DIR`: the float teacher and student as ONNX, checked against PyTorch
with onnxruntime on the run's windows, written atomically with the export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from collar_kd.cli import app

pytest.importorskip("onnxruntime")


def test_export_writes_onnx_models_that_match_pytorch(tiny_run, tmp_path):
    r = CliRunner().invoke(app, ["export", str(tiny_run), "--target", "collar", "--device-rate", "10", "--windows", "20",
                                 "--out", str(tmp_path / "exp"), "--onnx", str(tmp_path / "onnx")])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "exp" / "manifest.json").read_text())["onnx"]["models"]
    assert set(manifest) == {"teacher", "student_kd"}
    for name, m in manifest.items():
        assert (tmp_path / "onnx" / m["file"]).is_file()
        assert m["windows_checked"] > 0 and m["max_abs_logit_difference"] <= 1e-5, (name, m)
    assert manifest["student_kd"]["gru_linear_before_reset"] == [1]  # PyTorch's gate algebra
    # the file runs on its own in onnxruntime and gives the PyTorch logits
    import onnxruntime as ort

    from collar_kd.runs import load_model
    from collar_kd.training.loop import predict_logits

    model, arch = load_model(tiny_run, "student_kd")
    x = np.random.default_rng(0).normal(0, 0.5, size=(9, arch["window_length"], 3)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "onnx" / "student_kd.onnx")).run(None, {"windows": x})[0]
    np.testing.assert_allclose(got, predict_logits(model, x), atol=1e-5)


def test_a_model_over_the_tolerance_is_refused_and_nothing_is_written(tiny_run, tmp_path, monkeypatch):
    import collar_kd.export.onnx_models as onnx_models

    monkeypatch.setattr(onnx_models, "ONNX_TOLERANCE", -1.0)
    r = CliRunner().invoke(app, ["export", str(tiny_run), "--target", "collar", "--device-rate", "10", "--windows", "20",
                                 "--out", str(tmp_path / "exp"), "--onnx", str(tmp_path / "onnx")])
    assert r.exit_code == 2 and "ONNX logits differ" in r.output
    assert not (tmp_path / "exp").exists() and not (tmp_path / "onnx").exists()
