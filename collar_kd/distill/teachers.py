"""Teachers for one fold: each (architecture, seed) trained once on the fold's training windows,
its logits and last feature map computed once and reused by every method that asks.

A teacher is named "arch:seed" (arch resnet | fcn); sizes come from the [teacher] section.
With a directory, trained teachers are kept there as safetensors and reloaded (benchmarks
run many methods over the same folds).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from collar_kd.config import KDConfig
from collar_kd.distill.losses import make_loss
from collar_kd.errors import ConfigError
from collar_kd.models import TEACHER_ARCHS
from collar_kd.progress import Quiet
from collar_kd.training.device import compute_device, to_compute
from collar_kd.training.loop import class_weights, fit, predict_logits


@dataclass(frozen=True)
class TeacherSpec:
    arch: str
    seed: int

    def __str__(self) -> str:
        return f"{self.arch}:{self.seed}"


def parse_teacher_spec(text: str) -> TeacherSpec:
    arch, sep, seed = str(text).partition(":")
    if not sep or arch not in TEACHER_ARCHS or not seed.strip().lstrip("-").isdigit():
        raise ConfigError(f"method.teachers: '{text}' is not 'arch:seed' with arch one of {', '.join(TEACHER_ARCHS)} "
                          "(for example 'resnet:0' or 'fcn:1')")
    return TeacherSpec(arch, int(seed))


def build_teacher(spec: TeacherSpec, n_classes: int, filters: list[int], kernels: list[int]) -> nn.Module:
    torch.manual_seed(spec.seed)
    return TEACHER_ARCHS[spec.arch](n_classes, filters, kernels)


class TeacherPool:
    """Lazily trained teachers of one fold. `seconds[spec]` is the measured training time
    (also when reloaded from `directory`, where it was recorded when trained)."""

    def __init__(self, cfg, x: np.ndarray, y: np.ndarray, n_classes: int, weights, key: str,
                 progress=None, directory: Path | None = None, animals: np.ndarray | None = None):
        self.cfg, self.x, self.y, self.n_classes, self.weights, self.key = cfg, x, y, n_classes, weights, key
        self.animals = animals  # per window of x: needed by crossfit_logits only
        self.progress, self.directory = progress or Quiet(), directory
        self.models: dict[TeacherSpec, nn.Module] = {}
        self.seconds: dict[TeacherSpec, float] = {}
        self._logits: dict[TeacherSpec, np.ndarray] = {}
        self._features: dict[TeacherSpec, torch.Tensor] = {}

    @property
    def main_spec(self) -> TeacherSpec:
        """The run's own teacher: the [teacher] ResNet with the run's seed."""
        return TeacherSpec("resnet", self.cfg.seed)

    def put(self, spec: TeacherSpec, model: nn.Module) -> None:
        model.eval()
        self.models[spec] = model

    def get(self, spec: TeacherSpec | str) -> nn.Module:
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        if spec not in self.models:
            self.models[spec] = self._load(spec) or self._train(spec)
        return self.models[spec]

    def cache_path(self, spec: TeacherSpec) -> Path | None:
        return None if self.directory is None else Path(self.directory) / f"teacher-{spec.arch}-{spec.seed}.safetensors"

    def _load(self, spec: TeacherSpec) -> nn.Module | None:
        path = self.cache_path(spec)
        if path is None or not path.is_file():
            return None
        model = build_teacher(spec, self.n_classes, self.cfg.teacher.filters, self.cfg.teacher.kernels)
        model.load_state_dict(load_file(str(path)))
        model.eval()
        self.seconds[spec] = json.loads(path.with_suffix(".json").read_text())["seconds"]
        return model

    def _train(self, spec: TeacherSpec) -> nn.Module:
        t = self.cfg.teacher
        started = time.time()
        model = build_teacher(spec, self.n_classes, t.filters, t.kernels)
        with self.progress.task(f"{self.key}: teacher {spec}", t.epochs) as advance:
            fit(model, self.x, self.y, make_loss(KDConfig(loss="ce")), t.epochs, t.batch_size, t.lr, spec.seed,
                weights=self.weights, on_epoch=lambda *_: advance(), augment=self.cfg.augmentation())
        self.seconds[spec] = round(time.time() - started, 2)
        path = self.cache_path(spec)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
            path.with_suffix(".json").write_text(json.dumps({"seconds": self.seconds[spec]}))
        return model

    def logits(self, spec: TeacherSpec | str) -> np.ndarray:
        """Teacher logits on the training windows (as they are, unaugmented), computed once."""
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        if spec not in self._logits:
            self._logits[spec] = predict_logits(self.get(spec), self.x).astype(np.float32)
        return self._logits[spec]

    def crossfit_logits(self, spec: TeacherSpec | str, groups: int) -> np.ndarray:
        """Logits on the training windows, each from an inner teacher that never saw its animal:
        the training animals are dealt round-robin into `groups` groups; for each, a teacher
        with the same recipe and seed is trained on the other groups and labels this one.
        Inner leave-animals-out only: the held-out animal of the fold is not in this pool."""
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        key = ("crossfit", spec, groups)
        if key in self._logits:
            return self._logits[key]
        if self.animals is None:
            raise ConfigError("kd.teaching crossfit: the teacher pool was not given the windows' animals")
        animals = sorted(np.unique(self.animals).tolist())
        if len(animals) < 2:
            raise ConfigError(f"kd.teaching crossfit: needs at least two training animals, the data has {len(animals)}")
        out = np.zeros((len(self.x), self.n_classes), dtype=np.float32)
        for g in range(min(groups, len(animals))):
            held = np.isin(self.animals, animals[g::groups])
            inner = TeacherPool(self.cfg, self.x[~held], self.y[~held], self.n_classes,
                                class_weights(self.y[~held], self.n_classes, self.cfg.class_weighting),
                                f"{self.key} inner {g + 1}/{groups}", self.progress)
            out[held] = predict_logits(inner.get(spec), self.x[held])
            self.seconds[f"{spec} crossfit"] = self.seconds.get(f"{spec} crossfit", 0.0) + inner.seconds[spec]
        self._logits[key] = out
        return out

    def features(self, spec: TeacherSpec | str, batch_size: int = 1024) -> torch.Tensor:
        """The teacher's last feature map on the training windows, (N, C, T) in float16 (half
        the memory; the feature loss normalises anyway), computed once."""
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        if spec not in self._features:
            model = self.get(spec)  # may train it: outside no_grad
            model.eval()
            model.to(compute_device())
            with torch.no_grad():
                parts = [model.features(to_compute(torch.from_numpy(np.ascontiguousarray(self.x[i : i + batch_size],
                                                                                         dtype=np.float32)))).half().cpu()
                         for i in range(0, len(self.x), batch_size)]
            model.to("cpu")
            self._features[spec] = torch.cat(parts)
        return self._features[spec]

