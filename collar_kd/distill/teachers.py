"""Teachers for one fold: each (architecture, seed) trained once on the fold's training windows,
its logits and last feature map computed once and reused by every method that asks.

A teacher is named "arch:seed" (arch resnet | fcn | gru | forest | turned_forest); network sizes
come from the [teacher] section, the forest is the run's baseline recipe (rf_trees, class
weighting, rf_turned_copies) with that seed, and the turned forest the same recipe trained on
turned_forest_copies turned copies of every window besides the windows themselves. A "gru"
teacher is the student's own network, trained without KD on the student's schedule
([student] sizes, epochs, batch, learning rate): a few of them, with other seeds, make an ensemble
that shares the student's strengths (born-again ensembles) rather than a bigger network's. A
forest is no network: it teaches through soft labels computed once (cached or crossfit teaching)
and, since a fully grown forest labels its own training windows almost one-hot, its soft labels
on the training windows are always cross-fitted over animals (crossfit_logits).
With a directory, trained teachers are kept there as safetensors and reloaded (benchmarks
run many methods over the same folds), but only by a pool that would train them the same way
(TeacherPool.fingerprint: the settings and the windows they learn from); any other is trained
again and overwrites the kept one.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import matthews_corrcoef
from safetensors.torch import load_file, save_file
from torch import nn

from collar_kd.config import KDConfig
from collar_kd.data.windows import hash_arrays
from collar_kd.distill.losses import make_loss
from collar_kd.errors import ConfigError
from collar_kd.evaluation.baseline import ForestBaseline
from collar_kd.evaluation.predict import class_probabilities
from collar_kd.models import TEACHER_ARCHS, GRUStudent
from collar_kd.progress import Quiet
from collar_kd.training.device import compute_device, to_compute
from collar_kd.training.augment import random_rotations
from collar_kd.training.loop import class_weights, fit, logits_in_training, predict_logits


@dataclass(frozen=True)
class TeacherSpec:
    arch: str
    seed: int

    def __str__(self) -> str:
        return f"{self.arch}:{self.seed}"


FOREST = "forest"  # the window-statistics random forest, as a teacher
TURNED_FOREST = "turned_forest"  # the same forest trained on turned copies too (turned_forest_copies)
FORESTS = (FOREST, TURNED_FOREST)
GRU = "gru"  # the student's own network, trained without KD, as a teacher
FOREST_PROBABILITY_FLOOR = 1e-3  # log(p) of a forest that gave a class no vote: finite soft labels


def parse_teacher_spec(text: str, run_seed: int | None = None, setting: str = "method.teachers") -> TeacherSpec:
    """'arch:seed', or 'arch' alone for the run's own seed (`run_seed`; so that a run repeated with
    another seed, --extra-seed, also trains its teachers afresh). `setting` names where it came from."""
    arch, sep, seed = str(text).partition(":")
    archs = (*TEACHER_ARCHS, GRU, *FORESTS)
    if not sep and arch in archs and run_seed is not None:
        return TeacherSpec(arch, int(run_seed))
    if not sep or arch not in archs or not seed.strip().lstrip("-").isdigit():
        raise ConfigError(f"{setting}: '{text}' is not 'arch:seed' or 'arch' (the run's seed) with arch one of "
                          f"{', '.join(archs)} (for example 'resnet', 'resnet:0', 'fcn:1', 'gru:1', 'forest' or 'turned_forest')")
    return TeacherSpec(arch, int(seed))


def is_forest(spec: TeacherSpec) -> bool:
    """A forest teaches through soft labels computed once, never through a network's forward pass."""
    return spec.arch in FORESTS


class TeacherViews:
    """kd.teacher_views: a window as it is and `count` copies turned by the run's random rotations
    (`limits`, as random_rotations takes them). The draws depend on the seed and the number of
    windows only, so the same windows always get the same turns."""

    def __init__(self, count: int, limits, seed: int):
        self.count, self.limits, self.seed = count, limits, seed

    @classmethod
    def of(cls, cfg) -> "TeacherViews":
        return cls(cfg.kd.teacher_views, cfg.augmentation().rotation_limits, cfg.seed)

    def turned(self, x: np.ndarray):
        """x itself, then its `count` turned copies, one at a time."""
        yield x
        gen = torch.Generator().manual_seed(self.seed)
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        for _ in range(self.count):
            yield (xt @ random_rotations(len(x), self.limits, gen).transpose(1, 2)).numpy()

    def copies(self, x: np.ndarray) -> list[np.ndarray]:
        return list(self.turned(x))

    def training_set(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x and its turned copies in one array, each copy with x's labels (rf_turned_copies)."""
        return np.concatenate(self.copies(x)), np.tile(y, 1 + self.count)

    def probabilities(self, proba, x: np.ndarray) -> np.ndarray:
        """proba (windows -> class probabilities) averaged over x and its turned copies."""
        return np.mean([proba(v).astype(np.float64) for v in self.turned(x)], axis=0)

    def logits(self, proba, x: np.ndarray) -> np.ndarray:
        """Log of the averaged probabilities: logits whose softmax is that average."""
        return np.log(np.maximum(self.probabilities(proba, x), FOREST_PROBABILITY_FLOOR)).astype(np.float32)


class CombinedTeacher:
    """What a student distilled from several teachers learned from, as one classifier: the mean
    of the teachers' class probabilities (at T = 1; with kd.teacher_views, each averaged over the
    turned copies first). Evaluated on the held-out animal beside the ResNet alone (metrics row
    `kd_teacher`)."""

    def __init__(self, members: list, views: TeacherViews | None = None):
        self.members = members  # networks and forests
        self.views = views or TeacherViews(0, None, 0)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.mean([self.views.probabilities(partial(class_probabilities, m), x) for m in self.members], axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


def forest_logits(forest: ForestBaseline, x: np.ndarray, views: TeacherViews | None = None) -> np.ndarray:
    """Log-probabilities of the forest's vote: logits whose softmax is its class probabilities."""
    if views is not None and views.count:
        return views.logits(forest.predict_proba, x)
    return np.log(np.maximum(forest.predict_proba(x), FOREST_PROBABILITY_FLOOR)).astype(np.float32)


def network_logits(model: nn.Module, x: np.ndarray, views: TeacherViews | None = None) -> np.ndarray:
    """The network's logits on x; with turned copies (kd.teacher_views), the log of its averaged
    probabilities."""
    if views is not None and views.count:
        return views.logits(partial(class_probabilities, model), x)
    return predict_logits(model, x)


def build_teacher(spec: TeacherSpec, n_classes: int, cfg) -> nn.Module:
    torch.manual_seed(spec.seed)
    if spec.arch == GRU:
        return GRUStudent(n_classes, cfg.student.hidden, cfg.student.head)
    return TEACHER_ARCHS[spec.arch](n_classes, cfg.teacher.filters, cfg.teacher.kernels)


def teacher_schedule(spec: TeacherSpec, cfg):
    """The section whose epochs, batch size and learning rate train this teacher network."""
    return cfg.student if spec.arch == GRU else cfg.teacher


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
        self.selection: dict[str, dict] = {}  # per network teacher: what teacher.selection chose, and on what
        self._adopted: nn.Module | None = None  # the fold's student without KD, if it is gru:<run seed>
        self._logits: dict[TeacherSpec, np.ndarray] = {}
        self._features: dict[TeacherSpec, torch.Tensor] = {}
        self.views = TeacherViews.of(cfg)  # kd.teacher_views: how every soft label is computed

    @property
    def main_spec(self) -> TeacherSpec:
        """The run's own teacher: the [teacher] ResNet with the run's seed."""
        return TeacherSpec("resnet", self.cfg.seed)

    def put(self, spec: TeacherSpec, model: nn.Module | ForestBaseline) -> None:
        """A teacher trained elsewhere (a network, or a forest for a forest spec), as if trained here."""
        if isinstance(model, nn.Module):
            model.eval()
        self.models[spec] = model

    def adopt_no_kd_student(self, student: nn.Module) -> bool:
        """The fold's student without KD is the teacher 'gru:<run seed>' when the pool would train
        that teacher the same way (no teacher.mixup, no teacher.selection: the [teacher] settings a
        gru teacher follows; same seed, class weights and augmentation), so it is not trained twice.
        Returns whether it was adopted; it becomes the teacher only when a method asks for it."""
        t = self.cfg.teacher
        if t.mixup > 0 or t.selection != "none":
            return False
        self._adopted = student
        return True

    def get(self, spec: TeacherSpec | str) -> nn.Module:
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        if is_forest(spec):
            raise ConfigError(f"method.teachers: '{spec}' is a forest, not a network: it teaches through soft labels "
                              "computed once (kd.teaching cached or crossfit), not on the augmented batch (consistent) "
                              "nor through feature maps (feed)")
        if spec not in self.models and self._adopted is not None and spec == TeacherSpec(GRU, self.cfg.seed):
            self.put(spec, self._adopted)
            self.seconds[spec] = 0.0  # trained already, as the fold's student without KD
        if spec not in self.models:
            self.models[spec] = self._load(spec) or self._train(spec)
        return self.models[spec]

    def forest(self, spec: TeacherSpec, x: np.ndarray | None = None, y: np.ndarray | None = None) -> ForestBaseline:
        """The forest teacher `spec` on the pool's windows (or on x, y: an inner forest, not kept)."""
        x, y, keep = (self.x, self.y, True) if x is None else (x, y, False)
        if keep and spec in self.models:
            return self.models[spec]
        started, c = time.time(), self.cfg
        copies = c.turned_forest_copies if spec.arch == TURNED_FOREST else c.rf_turned_copies
        if copies:  # the windows and their turned copies, drawn with the forest's seed
            x, y = TeacherViews(copies, c.augmentation().rotation_limits, spec.seed).training_set(x, y)
        model = ForestBaseline.fit(x, y, self.n_classes, c.rf_trees, spec.seed, c.class_weighting, c.threads)
        self.seconds[spec] = round(self.seconds.get(spec, 0.0) + time.time() - started, 2)
        if keep:
            self.models[spec] = model
        return model

    def labels_unseen(self, spec: TeacherSpec | str, x: np.ndarray) -> np.ndarray:
        """Logits of the full teacher `spec` on windows it never saw (unlabelled ones)."""
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        if is_forest(spec):
            return forest_logits(self.forest(spec), x, self.views)
        return network_logits(self.get(spec), x, self.views)

    def combined(self, specs: list[TeacherSpec]) -> CombinedTeacher:
        return CombinedTeacher([self.forest(s) if is_forest(s) else self.get(s) for s in specs], self.views)

    def cache_path(self, spec: TeacherSpec) -> Path | None:
        return None if self.directory is None else Path(self.directory) / f"teacher-{spec.arch}-{spec.seed}.safetensors"

    def fingerprint(self, spec: TeacherSpec) -> str:
        """What network teacher `spec` depends on: its architecture and seed, the settings that
        size and train it ([teacher], and [student] for a gru teacher, whose schedule and sizes it
        gives; augmentation, class weighting, threads and device) and every window, label, class
        weight and animal it learns from. A kept teacher of other settings or data (the file names
        only say architecture and seed) is not reloaded. The code is not in it: benchmarks check
        their teachers against the MCC their reference recorded."""
        c = self.cfg.to_dict()
        settings = {"spec": str(spec), "classes": self.n_classes, "teacher": c["teacher"],
                    **({"student": c["student"]} if spec.arch == GRU else {}),
                    "threads": c["threads"], "device": c["device"], "class_weighting": c["class_weighting"],
                    **{k: v for k, v in c.items() if k.startswith("augment_")}}
        h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        hash_arrays(h, self.x, self.y, *(() if self.weights is None else (np.asarray(self.weights),)),
                    *(() if self.animals is None else (np.asarray(self.animals, dtype=str),)))
        return h.hexdigest()

    def _load(self, spec: TeacherSpec) -> nn.Module | None:
        path = self.cache_path(spec)
        if path is None or not path.is_file():
            return None
        try:
            kept = json.loads(path.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return None  # no record of what it was trained on: trained again
        if kept.get("fingerprint") != self.fingerprint(spec):
            return None
        model = build_teacher(spec, self.n_classes, self.cfg)
        model.load_state_dict(load_file(str(path)))
        model.eval()
        self.seconds[spec] = kept["seconds"]
        return model

    def _train(self, spec: TeacherSpec) -> nn.Module:
        t = self.cfg.teacher
        started = time.time()
        validation = self.validation_animals(spec)
        if validation is None:
            model = self._fit(spec, self.x, self.y, self.weights)
        else:
            inner = np.isin(self.animals, validation)
            model, best_epoch, mcc = self._fit_selecting(spec, inner)
            self.selection[str(spec)] = {"mode": t.selection, "validation_animals": validation, "epoch": best_epoch,
                                         "of_epochs": teacher_schedule(spec, self.cfg).epochs, "validation_mcc_per_epoch": mcc}
            if t.selection == "epoch":  # the chosen number of epochs, now on every training animal
                model = self._fit(spec, self.x, self.y, self.weights, stop_after=best_epoch)
        self.seconds[spec] = round(time.time() - started, 2)
        path = self.cache_path(spec)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The record goes first and comes back last: weights without their record are never reloaded.
            path.with_suffix(".json").unlink(missing_ok=True)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
            path.with_suffix(".json").write_text(json.dumps({"seconds": self.seconds[spec], "fingerprint": self.fingerprint(spec)}))
        return model

    def _fit(self, spec: TeacherSpec, x, y, weights, stop_after: int | None = None, on_epoch=None) -> nn.Module:
        t, s = self.cfg.teacher, teacher_schedule(spec, self.cfg)
        model = build_teacher(spec, self.n_classes, self.cfg)
        total = s.epochs if stop_after is None else stop_after

        def after_epoch(epoch, loss):
            advance()
            if on_epoch is not None:
                on_epoch(model, epoch)

        with self.progress.task(f"{self.key}: teacher {spec}", total) as advance:
            fit(model, x, y, make_loss(KDConfig(loss="ce")), s.epochs, s.batch_size, s.lr, spec.seed,
                weights=weights, on_epoch=after_epoch, augment=self.cfg.augmentation(), mixup=t.mixup,
                stop_after=stop_after)
        return model

    def validation_animals(self, spec: TeacherSpec) -> list | None:
        """The training animals teacher.selection validates on (drawn with the teacher's seed), or
        None when it keeps the last epoch. Only this pool's animals are candidates: the fold's
        held-out animal is not in it."""
        t = self.cfg.teacher
        if t.selection == "none":
            return None
        animals = [] if self.animals is None else sorted(np.unique(self.animals).tolist())
        if len(animals) <= t.validation_animals:
            self.progress.log(f"{self.key}: teacher {spec} keeps its last epoch: teacher.selection needs more than "
                              f"{t.validation_animals} training animals (teacher.validation_animals), this pool has {len(animals)}")
            self.selection[str(spec)] = {"mode": "none", "reason": f"{len(animals)} training animals"}
            return None
        rng = np.random.default_rng(spec.seed)
        return sorted(rng.choice(animals, size=t.validation_animals, replace=False).tolist())

    def _fit_selecting(self, spec: TeacherSpec, inner: np.ndarray) -> tuple[nn.Module, int, list[float]]:
        """Train on the windows outside `inner` and keep the epoch with the best MCC on the `inner`
        ones (the first best); returns that checkpoint, its epoch (1-based) and the MCC of every epoch."""
        xv, yv = self.x[inner], self.y[inner]
        mcc: list[float] = []
        best: dict = {}

        def judge(model, epoch):
            mcc.append(round(float(matthews_corrcoef(yv, logits_in_training(model, xv).argmax(1))), 4))
            if mcc[-1] > best.get("mcc", -2.0):
                best.update(mcc=mcc[-1], epoch=epoch + 1,
                            state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})

        model = self._fit(spec, self.x[~inner], self.y[~inner],
                          class_weights(self.y[~inner], self.n_classes, self.cfg.class_weighting), on_epoch=judge)
        model.load_state_dict(best["state"])
        model.eval()
        return model, best["epoch"], mcc

    def logits(self, spec: TeacherSpec | str) -> np.ndarray:
        """Teacher logits on the training windows (as they are, unaugmented), computed once."""
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        # A forest, or a network listed in kd.crossfit_teachers, would label its own training
        # windows from memory: cross-fitted over animals whenever there are two or more.
        if is_forest(spec) or spec.arch in self.cfg.kd.crossfit_teachers:
            if self.animals is not None and len(np.unique(self.animals)) >= 2:
                return self.crossfit_logits(spec, self.cfg.kd.crossfit_groups)
            # One training animal (a fold of a two-animal farm): nothing to cross-fit over.
            self.progress.log(f"{self.key}: teacher {spec} labels its own training windows (one training animal: "
                              "its soft labels cannot be cross-fitted)")
            if is_forest(spec):
                return forest_logits(self.forest(spec), self.x, self.views)
        if spec not in self._logits:
            self._logits[spec] = network_logits(self.get(spec), self.x, self.views).astype(np.float32)
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
            if is_forest(spec):
                out[held] = forest_logits(self.forest(spec, self.x[~held], self.y[~held]), self.x[held], self.views)
                continue
            inner = TeacherPool(self.cfg, self.x[~held], self.y[~held], self.n_classes,
                                class_weights(self.y[~held], self.n_classes, self.cfg.class_weighting),
                                f"{self.key} inner {g + 1}/{groups}", self.progress, animals=self.animals[~held])
            out[held] = network_logits(inner.get(spec), self.x[held], self.views)
            self.seconds[f"{spec} crossfit"] = self.seconds.get(f"{spec} crossfit", 0.0) + inner.seconds[spec]
        self._logits[key] = out
        return out

    def features(self, spec: TeacherSpec | str, batch_size: int = 1024) -> torch.Tensor:
        """The teacher's last feature map on the training windows, (N, C, T) in float16 (half
        the memory; the feature loss normalises anyway), computed once."""
        spec = parse_teacher_spec(spec) if isinstance(spec, str) else spec
        if spec.arch == GRU:
            raise ConfigError(f"method.teachers: '{spec}' is a GRU: it has no convolutional feature map for FEED to "
                              "match; FEED takes resnet or fcn teachers")
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

