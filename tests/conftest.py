"""Shared fixtures: tiny synthetic data and tiny models, so the suite stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collar_kd.paths import WASP_DATASET


@pytest.fixture
def tiny_synthetic(tmp_path: Path) -> Path:
    """Settings for a very small synthetic dataset: 3 animals, 4 classes, 10 Hz."""
    path = tmp_path / "tiny_synth.json"
    path.write_text(json.dumps({"animals": 3, "bouts_per_class": 1, "bout_seconds": [8, 10], "sample_rate": 10.0}))
    return path


def tiny_config_overrides(settings: Path) -> dict:
    return {
        "data.synthetic_settings": str(settings),
        "data.window": "20",
        "data.stride": "10",
        "teacher.filters": [8, 8, 8],
        "teacher.epochs": 2,
        "student.hidden": 8,
        "student.head": 8,
        "student.epochs": 2,
        "rf_trees": 10,
        "threads": 1,
    }


def tiny_toml(settings: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(
        f"""
seed = 0
rf_trees = 10
threads = 1
[data]
synthetic_settings = "{settings}"
window = "20"
stride = "10"
[teacher]
filters = [8, 8, 8]
epochs = 2
[student]
hidden = 8
head = 8
epochs = 2
"""
    )
    return path


@pytest.fixture
def wasp_root() -> Path:
    if not (WASP_DATASET / "index.csv").is_file():
        pytest.skip(f"shared WASP collar dataset not found at {WASP_DATASET} (it lives outside the repository)")
    return WASP_DATASET


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny trained run (no cross-validation): the input of the export and verify tests."""
    from collar_kd.config import load_config
    from collar_kd.pipeline.train_run import run_training

    tmp = tmp_path_factory.mktemp("tiny_run")
    settings = tmp / "s.json"
    settings.write_text(json.dumps({"animals": 2, "bouts_per_class": 1, "bout_seconds": [8, 10], "sample_rate": 10.0}))
    cfg = load_config(None, {**tiny_config_overrides(settings), "cv": "none", "student.epochs": 3})
    run_training(cfg, tmp / "run")
    return tmp / "run"


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory) -> Path:
    from collar_kd.export.exporter import ExportOptions
    from collar_kd.pipeline.export_run import export_run

    out = tmp_path_factory.mktemp("tiny_export") / "export"
    export_run(tiny_run, out, ExportOptions(device_rate_hz=10.0, target="eartag", windows=60))
    return out
