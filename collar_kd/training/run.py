"""`collar-kd train`: leave-one-animal-out evaluation of teacher, students and baseline, then the
final models on all animals, all written into one run directory."""

from __future__ import annotations

import dataclasses
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import collar_kd
from collar_kd.config import KDConfig, TrainConfig
from collar_kd.data import load_recordings, windows_for
from collar_kd.data.windows import Windows
from collar_kd.distill.losses import make_loss
from collar_kd.distill.soft_labels import SoftLabelCache
from collar_kd.distill.teachers import TeacherPool
from collar_kd.evaluation.baseline import ForestBaseline
from collar_kd.evaluation.metrics import classification_metrics
from collar_kd.evaluation.report import LABELS, plot_confusion, write_report
from collar_kd.errors import ConfigError
from collar_kd.methods import StudentJob, method_description, train_student
from collar_kd.models import GRUStudent
from collar_kd.progress import Quiet
from collar_kd.runs import MODEL_NAMES, atomic_directory, save_model, write_json
from collar_kd.training.loop import class_weights, fit, predict_logits, seed_everything


def train_plain_student(cfg: TrainConfig, x, y, n_classes: int, weights, key: str, progress) -> GRUStudent:
    """The student without distillation (cross-entropy on the labels)."""
    with progress.task(f"{key}: student (no KD)", cfg.student.epochs) as advance:
        torch.manual_seed(cfg.seed)  # every student starts from the same weights
        student = GRUStudent(n_classes, cfg.student.hidden, cfg.student.head)
        fit(student, x, y, make_loss(KDConfig(loss="ce")), cfg.student.epochs, cfg.student.batch_size,
            cfg.student.lr, cfg.seed, weights=weights, on_epoch=lambda *_: advance(), rotation_deg=cfg.augment_rotation_deg)
    return student


def train_all(cfg: TrainConfig, win: Windows, cache: SoftLabelCache, key: str, progress) -> tuple[dict, dict]:
    """Teacher, student without KD, the distilled student (by cfg.method) and the forest on
    `win`; same seed for all. Returns the models and the method's report."""
    n_classes = len(win.classes)
    weights = class_weights(win.y, n_classes, cfg.class_weighting)
    pool = TeacherPool(cfg, win.x, win.y, n_classes, weights, key, progress, soft_labels=cache)
    models = {"teacher": pool.get(pool.main_spec)}
    student = models["student"] = train_plain_student(cfg, win.x, win.y, n_classes, weights, key, progress)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length}
    job = StudentJob(cfg, win.x, win.y, n_classes, win.length, arch, pool, weights, key, progress, no_kd_student=student)
    result = train_student(job)
    models["student_kd"] = result.student
    result.report["teacher_seconds"] = {str(k): v for k, v in pool.seconds.items()}
    models["baseline_rf"] = ForestBaseline.fit(win.x, win.y, n_classes, cfg.rf_trees, cfg.seed,
                                               cfg.class_weighting, cfg.threads)
    return models, result.report


def predict(models: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    out = {name: predict_logits(models[name], x).argmax(axis=1) for name in ("teacher", "student", "student_kd")}
    out["baseline_rf"] = models["baseline_rf"].predict(x)
    return out


def cross_validate(cfg: TrainConfig, win: Windows, cache: SoftLabelCache, progress, run_dir: Path) -> dict:
    animals = sorted(np.unique(win.animal).tolist())
    if len(animals) < 2:
        raise ConfigError("cv: leave-one-animal-out needs at least two animals; the data has one (use --cv none)")
    pooled_true, pooled_pred = [], {m: [] for m in MODEL_NAMES}
    folds, method_reports = [], {}
    for i, animal in enumerate(animals):
        test = win.animal == animal
        train, held = win.subset(~test), win.subset(test)
        progress.log(f"fold {i + 1}/{len(animals)}: held-out animal {animal} ({len(held)} windows)")
        key = f"fold-{i:02d}-{animal}"
        models, method_report = train_all(cfg, train, cache, key, progress)
        method_reports[key] = method_report
        if cfg.save_fold_models:
            (run_dir / "folds" / key).mkdir(parents=True)
            for name in ("teacher", "student", "student_kd"):
                save_model(models[name], run_dir / "folds" / key / f"{name}.safetensors")
        preds = predict(models, held.x)
        pooled_true.append(held.y)
        fold = {"animal": animal, "key": key, "train_windows": len(train), "test_windows": len(held),
                "test_support": held.class_support(), "train_support": train.class_support()}
        for m in MODEL_NAMES:
            pooled_pred[m].append(preds[m])
            fm = classification_metrics(held.y, preds[m], win.classes)
            fold[m] = {k: fm[k] for k in ("mcc", "accuracy", "macro_f1")}
        folds.append(fold)
    y = np.concatenate(pooled_true)
    result = {m: classification_metrics(y, np.concatenate(pooled_pred[m]), win.classes) for m in MODEL_NAMES}
    result["folds"] = folds
    result["method_reports"] = method_reports
    return result


def run_training(cfg: TrainConfig, out: Path, progress=None, force: bool = False) -> dict:
    """Train and evaluate per `cfg`, write RUN_DIR `out`; returns the metrics document."""
    progress = progress or Quiet()
    started = time.time()
    # Record data paths absolutely, so that `export` can reload the run's data from anywhere.
    for key in ("path", "synthetic_settings"):
        value = getattr(cfg.data, key)
        if value and value != "synthetic" and Path(value).exists():
            setattr(cfg.data, key, str(Path(value).resolve()))
    seed_everything(cfg.seed, cfg.threads)
    rec, class_map = load_recordings(cfg.data, seed=cfg.seed)
    win = windows_for(rec, class_map.classes, cfg.data.window, cfg.data.stride)
    with atomic_directory(out, force=force) as tmp:
        cache = SoftLabelCache(tmp / "cache")
        metrics: dict = {
            "evaluated_on": "leave-one-animal-out, pooled over folds" if cfg.cv == "loao" else None,
            "classes": list(win.classes),
            "window": {"length": win.length, "stride": win.stride, "sample_rate_hz": win.sample_rate,
                       "seconds": win.length / win.sample_rate},
            "data": {**rec.summary(), "windows": len(win), "window_support": win.class_support(),
                     "bouts_shorter_than_a_window": win.skipped_bouts},
        }
        metrics["method"] = {"name": cfg.method.name, "description": method_description(cfg.method.name)}
        method_doc = {"name": cfg.method.name, "settings": {"method": dataclasses.asdict(cfg.method), "kd": dataclasses.asdict(cfg.kd)},
                      "folds": {}, "final": None}
        if cfg.cv == "loao":
            metrics.update(cross_validate(cfg, win, cache, progress, tmp))
            method_doc["folds"] = metrics.pop("method_reports")
        (tmp / "models").mkdir()
        arch = {
            "classes": list(win.classes),
            "sample_rate_hz": win.sample_rate,
            "window_length": win.length,
            "teacher": {"filters": cfg.teacher.filters, "kernels": cfg.teacher.kernels},
            "student": {"hidden": cfg.student.hidden, "head": cfg.student.head},
            # How student_kd was trained; qat-kd / speq students were trained for these weights.
            "student_kd_method": {"name": cfg.method.name, "weight_bits": cfg.method.weight_bits},
        }
        if cfg.final_models:
            progress.log(f"final models on all {len(np.unique(win.animal))} animals ({len(win)} windows)")
            final, method_doc["final"] = train_all(cfg, win, cache, "all", progress)
            for name in ("teacher", "student", "student_kd"):
                save_model(final[name], tmp / "models" / f"{name}.safetensors")
            final["baseline_rf"].save(tmp / "models" / "baseline_rf.npz")
            arch["teacher"].update(params=final["teacher"].param_count(),
                                   mults_per_window=final["teacher"].mults_per_window(win.length))
            arch["student"].update(params=final["student"].param_count(),
                                   mults_per_window=final["student"].mults_per_window(win.length))
            if cfg.cv == "none":
                preds = predict(final, win.x)
                metrics["evaluated_on"] = "the training data itself (cv = none): optimistic, not a generalisation estimate"
                metrics.update({m: classification_metrics(win.y, preds[m], win.classes) for m in MODEL_NAMES})
        write_json(tmp / "models" / "models.json", arch)
        write_json(tmp / "method.json", method_doc)
        metrics["wall_time_s"] = round(time.time() - started, 2)
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "config.json", cfg.to_dict())
        write_json(tmp / "manifest.json", {
            "collar_kd": collar_kd.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seed": cfg.seed, "data_fingerprint": rec.fingerprint(), "data_source": rec.source,
            "classes": list(win.classes), "models": arch,
        })
        for m in MODEL_NAMES:
            plot_confusion(metrics[m]["confusion"], win.classes, f"{LABELS[m]} ({metrics['evaluated_on']})",
                           tmp / f"confusion-{m}.png")
        write_report(tmp / "report.md", f"collar-kd run: {rec.source}", metrics, MODEL_NAMES, _report_notes(metrics, arch))
    return metrics


def _report_notes(metrics: dict, arch: dict) -> list[str]:
    notes = [
        f"Evaluated on: {metrics['evaluated_on']}.",
        f"Classes: {', '.join(metrics['classes'])}. Window: {metrics['window']['length']} samples "
        f"({metrics['window']['seconds']:g} s at {metrics['window']['sample_rate_hz']:g} Hz), "
        f"stride {metrics['window']['stride']} samples.",
        f"Windows per class: {metrics['data']['window_support']}.",
        f"Distilled student (student_kd): method '{metrics['method']['name']}', {metrics['method']['description']} (settings in method.json).",
    ]
    if metrics["data"]["bouts_shorter_than_a_window"]:
        notes.append(f"Bouts skipped because shorter than one window, per class: {metrics['data']['bouts_shorter_than_a_window']}.")
    if metrics["data"]["dropped"]:
        notes.append(f"Dropped while reading: {metrics['data']['dropped']}.")
    if "params" in arch["student"]:
        notes.append(f"Teacher: {arch['teacher']['params']:,} parameters, {arch['teacher']['mults_per_window']:,} multiplications per window. "
                     f"Student: {arch['student']['params']:,} parameters, {arch['student']['mults_per_window']:,} multiplications per window.")
    if "folds" in metrics:
        notes += ["", "Per fold (held-out animal: test windows per class; MCC teacher / student / KD student / forest):", ""]
        for f in metrics["folds"]:
            mccs = " / ".join("n/a" if f[m]["mcc"] is None else f"{f[m]['mcc']:.3f}" for m in MODEL_NAMES)
            notes.append(f"- {f['animal']}: {f['test_support']}; {mccs}")
    return notes
