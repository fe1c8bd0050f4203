"""Run directories: written under a temporary name and renamed at the end, read back safely.

Layout of RUN_DIR:
  config.json      the resolved configuration
  manifest.json    versions, seed, data fingerprint, classes, window, model sizes
  metrics.json     per-fold and pooled metrics of teacher / student / student_kd / baseline_rf
  method.json      how student_kd was trained (--method): settings, per-fold and final reports
  report.md        a short human summary; confusion-<model>.png plots
  models/          final models trained on all animals: *.safetensors state dicts, baseline_rf.npz
  folds/           with save_fold_models: every fold's neural models (benchmarks reuse them)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from collar_kd.errors import RunDirError
from collar_kd.evaluation.baseline import ForestBaseline
from collar_kd.models import GRUStudent, ResNetTeacher

MODEL_NAMES = ("teacher", "student", "student_kd", "baseline_rf")
NEURAL_MODELS = ("teacher", "student", "student_kd")


@contextmanager
def atomic_directory(final: Path, force: bool = False):
    """Yield a temporary directory beside `final`; rename it into place only if the body succeeds."""
    final = Path(final)
    if final.exists() and any(final.iterdir()) and not force:
        raise RunDirError(f"{final}: already exists and is not empty (use --force to replace it)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        trash = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(trash)
        tmp.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(final)


def write_json(path: Path, doc) -> None:
    Path(path).write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: missing (is {path.parent} a complete collar-kd run directory?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None


def build_model(name: str, arch: dict) -> torch.nn.Module:
    n = len(arch["classes"])
    if name == "teacher":
        return ResNetTeacher(n, arch["teacher"]["filters"], arch["teacher"]["kernels"])
    return GRUStudent(n, arch["student"]["hidden"], arch["student"]["head"])


def save_model(model: torch.nn.Module, path: Path) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def load_run_models(run_dir: Path) -> tuple[dict, dict]:
    """The final models of a run and the architecture record they were built from."""
    run_dir = Path(run_dir)
    arch = read_json(run_dir / "models" / "models.json")
    models: dict = {name: load_model(run_dir, name)[0] for name in NEURAL_MODELS}
    rf_path = run_dir / "models" / "baseline_rf.npz"
    if not rf_path.is_file():
        raise RunDirError(f"{rf_path}: missing")
    models["baseline_rf"] = ForestBaseline.load(rf_path)
    return models, arch


def load_model(run_dir: Path, which: str) -> tuple[torch.nn.Module, dict]:
    """One final neural model of a run (teacher, student or student_kd), from its safetensors
    state dict (no pickle), with the architecture record."""
    if which not in NEURAL_MODELS:
        raise RunDirError(f"no model '{which}' (models: {', '.join(NEURAL_MODELS)})")
    arch = read_json(Path(run_dir) / "models" / "models.json")
    path = Path(run_dir) / "models" / f"{which}.safetensors"
    if not path.is_file():
        raise RunDirError(f"{path}: missing; was the run trained with final_models = false?")
    model = build_model(which, arch)
    model.load_state_dict(load_file(str(path)))
    model.eval()
    return model, arch

