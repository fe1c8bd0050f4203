"""--device auto|cpu|cuda: one place resolves it; without CUDA, 'cuda' is refused cleanly and
'auto' is the CPU, bit for bit the run it always was. (This machine has no GPU: the CUDA path
itself is not exercised here; docs/methods.md says what is and is not identical there.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.errors import ConfigError
from collar_kd.models import GRUStudent
from collar_kd.training import device
from collar_kd.training.loop import fit, predict_logits
from collar_kd.distill.losses import make_loss
from collar_kd.config import KDConfig
from conftest import tiny_config_overrides


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_resolution(no_gpu):
    assert device.resolve_device("auto") == torch.device("cpu")
    assert device.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="'cuda' was asked for, but PyTorch sees no CUDA GPU"):
        device.resolve_device("cuda")
    with pytest.raises(ConfigError, match="device: must be one of auto, cpu, cuda, not 'tpu'"):
        device.resolve_device("tpu")
    d = device.use_device("cpu")
    assert d == device.compute_device() == torch.device("cpu")
    t = torch.zeros(3)
    assert device.to_compute(t) is t and device.to_compute(None) is None  # no copy where it already is


def test_models_are_on_the_cpu_between_computations(no_gpu):
    torch.manual_seed(0)
    m = GRUStudent(3, 4, 4)
    x = np.random.default_rng(0).normal(size=(16, 10, 3)).astype(np.float32)
    y = np.arange(16) % 3
    fit(m, x, y, make_loss(KDConfig(loss="ce")), 1, 8, 1e-3, 0)
    assert {p.device.type for p in m.parameters()} == {"cpu"}
    assert predict_logits(m, x).shape == (16, 3)
    assert {p.device.type for p in m.parameters()} == {"cpu"}


def _train(tmp_path, settings, name, *extra):
    args = ["train", "--data", "synthetic", "--cv", "none", "--out", str(tmp_path / name), "--quiet", "--config",
            str(_config(tmp_path, settings)), *extra]
    return CliRunner().invoke(app, args)


def _config(tmp_path, settings):
    path = tmp_path / "tiny.json"
    cfg = {}
    for k, v in tiny_config_overrides(settings).items():
        node = cfg
        *parents, leaf = k.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    path.write_text(json.dumps(cfg))
    return path


def test_cuda_without_a_gpu_exits_2_and_writes_nothing(tiny_synthetic, tmp_path, no_gpu):
    r = _train(tmp_path, tiny_synthetic, "run", "--device", "cuda")
    assert r.exit_code == 2, r.output
    assert "device: 'cuda' was asked for, but PyTorch sees no CUDA GPU" in r.output and "--device cpu" in r.output
    assert not (tmp_path / "run").exists()
    r = _train(tmp_path, tiny_synthetic, "run", "--device", "gpu0")
    assert r.exit_code == 2 and "device: must be one of auto, cpu, cuda, not 'gpu0'" in r.output
    r = CliRunner().invoke(app, ["predict", str(tmp_path / "nowhere"), "--data", "synthetic", "--out", str(tmp_path / "p"),
                                 "--device", "cuda"])
    assert r.exit_code == 2 and "PyTorch sees no CUDA GPU" in r.output


def test_auto_without_a_gpu_is_the_cpu_run_byte_for_byte(tiny_synthetic, tmp_path, no_gpu):
    assert _train(tmp_path, tiny_synthetic, "auto").exit_code == 0
    assert _train(tmp_path, tiny_synthetic, "cpu", "--device", "cpu").exit_code == 0
    for name in ("metrics.json", "method.json", "models/student_kd.safetensors", "models/teacher.safetensors"):
        assert (tmp_path / "auto" / name).read_bytes() == (tmp_path / "cpu" / name).read_bytes(), name
    assert json.loads((tmp_path / "auto" / "manifest.json").read_text())["device"] == "cpu"
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["device"] == "auto"
