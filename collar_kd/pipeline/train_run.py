"""`collar-kd train`: leave-one-animal-out evaluation of teacher, students and baseline, then the
final models on all animals, all written into one run directory."""

from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import collar_kd
from collar_kd.config import KDConfig, TrainConfig, config_from_dict
from collar_kd.data import load_recordings, windows_for
from collar_kd.data.recordings import Recordings
from collar_kd.data.windows import Windows
from collar_kd.distill.losses import check_loss, make_loss
from collar_kd.distill.teachers import TURNED_FOREST, TeacherPool, TeacherSpec, parse_teacher_spec
from collar_kd.distill.transfer import transfer_specs
from collar_kd.errors import CollarKDError, ConfigError, DataError
from collar_kd.export.devices import device_names, load_device
from collar_kd.evaluation.metrics import classification_metrics
from collar_kd.evaluation.predict import STUDENT_AND_FOREST, predict_classes, student_and_forest
from collar_kd.evaluation.report import LABELS, plot_confusion, write_report
from collar_kd.evaluation.statistics import (describe_difference, describe_steadiness, paired_difference, paired_steadiness,
                                             seed_spread_per_animal, summarize_seeds)
from collar_kd.methods import METHODS, StudentJob, get_method, resolve_settings, train_student
from collar_kd.methods.base import as_dict
from collar_kd.models import GRUStudent
from collar_kd.progress import Quiet
from collar_kd.pipeline.fold_store import FoldStore, fingerprint, fold_settings, kept_folds
from collar_kd.pipeline.workers import Workers, run_jobs
from collar_kd.runs import MODEL_NAMES, NEURAL_MODELS, atomic_directory, save_model, save_state, write_json
from collar_kd.training.device import use_device
from collar_kd.training.loop import class_weights, fit, seed_everything


def run_training(cfg: TrainConfig, out: Path, progress=None, force: bool = False, workers: Workers | None = None,
                 resume: bool = True) -> dict:
    """Train and evaluate per `cfg`, write RUN_DIR `out`; returns the metrics document. `workers`
    runs the folds as Ray tasks (collar_kd/pipeline/workers.py); the results do not depend on it.
    Finished folds are kept in `out`.unfinished until the run is in place; with `resume` (the
    default) the folds kept there by an interrupted run of the same settings are taken up."""
    progress = progress or Quiet()
    workers = (workers or Workers()).check()
    device = use_device(cfg.device)  # before any work: --device cuda without a GPU exits 2 here
    started = time.time()
    settings = resolve_method(cfg)
    record_data_paths_absolutely(cfg)
    seed_everything(cfg.seed, cfg.threads)
    rec, class_map = load_recordings(cfg.data, seed=cfg.seed)
    win = windows_for(rec, class_map.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
    warnings = check_trainable(cfg, win, rec.source)
    for w in warnings:
        progress.log(f"warning: {w}")
    extra = unlabelled_windows(cfg, win)
    # Every fold is kept in out.unfinished as it finishes, until the run is complete. Entered
    # once the temporary directory is locked: a second command writing `out` is refused before
    # it could touch the first one's folds.
    with atomic_directory(out, force=force, inputs=run_inputs(cfg)) as tmp, kept_folds(out, resume) as store:
        metrics = describe_data(cfg, rec, win)
        if extra is not None:
            metrics["unlabelled"] = {"source": cfg.unlabelled.path, "windows": len(extra.x),
                                     "animals": sorted(np.unique(extra.animal).tolist())}
        method_doc = {"name": cfg.method.name, "folds": {}, "final": None,
                      "settings": {"method": {"name": cfg.method.name, **cfg.method.precision(), **as_dict(settings)},
                                   "kd": as_dict(cfg.kd)}}
        if cfg.cv == "loao":
            metrics.update(cross_validate(cfg, win, progress, tmp, extra, workers, store))
            method_doc["folds"] = metrics.pop("method_reports")
            if cfg.extra_seeds:
                metrics["seeds"] = repeat_with_seeds(cfg, win, metrics, progress, tmp, extra, workers, store)
        arch = architecture(cfg, win)
        if cfg.final_models:
            method_doc["final"] = train_final_models(cfg, win, arch, metrics, progress, tmp / "models", extra)
        warnings += store.notes  # folds of an earlier run trained again: said at the start, and here for the record
        write_run_documents(tmp, cfg, rec, win, arch, metrics, method_doc, time.time() - started, warnings, str(device))
        write_plots_and_report(tmp, rec, win, metrics, arch, warnings)
    return metrics


def finished_run(cfg: TrainConfig, out: Path) -> dict | None:
    """The metrics of the complete run in `out` if it was trained with exactly `cfg` (method settings
    resolved, data paths absolute, as the run records them), else None: lets a benchmark take up
    seeds it already ran instead of training them again. The code version is not compared."""
    out = Path(out)
    if not ((out / "metrics.json").is_file() and (out / "config.json").is_file()):
        return None
    wanted = copy.deepcopy(cfg)
    resolve_method(wanted)
    record_data_paths_absolutely(wanted)
    # A setting added since the run was recorded takes its default: each such default is what runs did
    # before the setting existed (AFTER_TRAINING's are not compared at all).
    try:
        recorded = config_from_dict(json.loads((out / "config.json").read_text())).to_dict()
    except (CollarKDError, ValueError, TypeError):
        return None
    if trained_part(json.loads(json.dumps(recorded))) != trained_part(json.loads(json.dumps(wanted.to_dict()))):
        return None
    return json.loads((out / "metrics.json").read_text())


# Settings that only decide how a finished student is quantized afterwards, never what a run trains
# (the quantization-aware finish and qat-kd take the formats, not the rounded weights): runs that
# differ in them, or were trained before they existed, are the same run.
AFTER_TRAINING = {"method": ("rounding",)}


def trained_part(config: dict) -> dict:
    """A run's recorded config less AFTER_TRAINING."""
    return {section: {k: v for k, v in value.items() if k not in AFTER_TRAINING.get(section, ())}
            if isinstance(value, dict) else value for section, value in config.items()}


def run_inputs(cfg: TrainConfig) -> dict:
    """What `train` reads, which its --out may not be, contain or lie inside."""
    return {"data": None if cfg.data.format == "synthetic" else cfg.data.path, "unlabelled recordings": cfg.unlabelled.path,
            "synthetic settings": cfg.data.synthetic_settings, "class map": cfg.data.class_map
            if cfg.data.class_map and Path(cfg.data.class_map).suffix == ".json" else None}


RUN_SIZE_WARNING_BYTES = 100 * 2**20


def check_trainable(cfg: TrainConfig, win: Windows, source: str) -> list[str]:
    """Refuse what cannot make a classifier (one class); say what is legal but surprising: a
    student no shipped device can hold, a run directory of hundreds of megabytes."""
    present = np.unique(win.y)
    if len(present) < 2:
        raise DataError(source, f"the training windows hold one class only ('{win.classes[int(present[0])]}'): a "
                        "classifier needs at least two behaviours (check the class map and the data)")
    warnings = []
    params = GRUStudent(len(win.classes), cfg.student.hidden, cfg.student.head).param_count()
    budgets = {d.name: d.model_flash_budget_bytes for d in (load_device(n) for n in device_names())}
    if budgets and params > max(budgets.values()):  # 8-bit weights: one byte per parameter at least
        warnings.append(f"the student has {params:,} parameters: at 8 bits it fits no shipped device profile's flash budget "
                        f"({', '.join(f'{k} {v:,} B' for k, v in budgets.items())}); `collar-kd export` will refuse it")
    models = 2 + (cfg.save_fold_models and cfg.cv == "loao") * 2 * len(np.unique(win.animal)) * (1 + len(cfg.extra_seeds))
    size = 4 * params * models
    if size > RUN_SIZE_WARNING_BYTES:
        warnings.append(f"the run directory will hold about {size / 2**20:,.0f} MB of student weights "
                        f"({models} models of {params:,} float32 parameters)")
    return warnings


def resolve_method(cfg: TrainConfig):
    """The method's own settings, checked before any work; the run records them resolved."""
    settings = resolve_settings(cfg)
    method = get_method(cfg.method.name)
    check_loss(cfg.kd)  # else an unknown loss surfaced only once the first fold's teacher had trained
    for asked, setting in ((cfg.transductive, "transductive"), (bool(cfg.unlabelled.path), "unlabelled.path")):
        if asked and not method.learns_from_unlabelled:
            able = ", ".join(m.name for m in METHODS.values() if m.learns_from_unlabelled)
            raise ConfigError(f"{setting}: method '{method.name}' does not learn from unlabelled windows ({able} do)")
    if cfg.kd.transfer_teachers and not method.learns_from_unlabelled:
        able = ", ".join(m.name for m in METHODS.values() if m.learns_from_unlabelled)
        raise ConfigError(f"kd.transfer_teachers: method '{method.name}' learns from no transfer set ({able} do)")
    check_turned_forests(cfg, settings)
    check_crossfit_teachers(cfg, settings)
    cfg.method.options = as_dict(settings)
    return settings


def transductive_specs(cfg: TrainConfig) -> list[TeacherSpec]:
    """The teachers that label the transductive student's unlabelled windows when they are not
    the distilled student's own (transductive_teachers)."""
    return [parse_teacher_spec(t, cfg.seed, "transductive_teachers") for t in cfg.transductive_teachers]


def check_turned_forests(cfg: TrainConfig, settings) -> None:
    """A turned_forest teacher turns windows by the run's rotations: a run without them is refused."""
    asked = [("method.teachers", parse_teacher_spec(t, cfg.seed)) for t in getattr(settings, "teachers", [])]
    if cfg.transductive:  # else not used (a recipe may set it)
        asked += [("transductive_teachers", s) for s in transductive_specs(cfg)]
    asked += [("kd.transfer_teachers", s) for s in transfer_specs(cfg.kd, cfg.seed)]
    for setting, spec in asked:
        if spec.arch == TURNED_FOREST and not cfg.augmentation().rotation_limits:
            raise ConfigError(f"{setting}: '{spec}' learns from turned copies of the windows, turned by the run's "
                              "rotations (augment_rotation_deg or augment_rotation_axes_deg); this run has none")


def check_crossfit_teachers(cfg: TrainConfig, settings) -> None:
    """kd.crossfit_teachers names architectures among the method's teachers (method.teachers, or
    the run's own ResNet), for a method that distils the pool's soft labels: otherwise it would
    change nothing, silently."""
    if cfg.kd.crossfit_teachers and not get_method(cfg.method.name).soft_labels:
        raise ConfigError(f"kd.crossfit_teachers: method '{cfg.method.name}' does not distil the teachers' soft "
                          "labels, so nothing would be cross-fitted")
    teachers = getattr(settings, "teachers", None)
    archs = {parse_teacher_spec(t, cfg.seed).arch for t in teachers} if teachers is not None else {"resnet"}
    unused = [a for a in cfg.kd.crossfit_teachers if a not in archs]
    if unused:
        raise ConfigError(f"kd.crossfit_teachers: {', '.join(unused)} is not among the teachers of method "
                          f"'{cfg.method.name}' ({', '.join(sorted(archs))}), so nothing would be cross-fitted")


def record_data_paths_absolutely(cfg: TrainConfig) -> None:
    """So that `export` can reload the run's data from anywhere."""
    for key in ("path", "synthetic_settings"):
        value = getattr(cfg.data, key)
        if value and value != "synthetic" and Path(value).exists():
            setattr(cfg.data, key, str(Path(value).resolve()))


def describe_data(cfg: TrainConfig, rec: Recordings, win: Windows) -> dict:
    return {
        "evaluated_on": "leave-one-animal-out, pooled over folds" if cfg.cv == "loao" else None,
        "classes": list(win.classes),
        "window": {"length": win.length, "stride": win.stride, "sample_rate_hz": win.sample_rate,
                   "seconds": win.length / win.sample_rate},
        "frame": {"name": cfg.data.frame, "headings_deg": win.headings},
        "data": {**rec.summary(), "windows": len(win), "window_support": win.class_support(),
                 "bouts_shorter_than_a_window": win.skipped_bouts},
        "method": {"name": cfg.method.name, "description": get_method(cfg.method.name).description},
        "recipe": cfg.recipe,
        **({"transductive_labels": cfg.transductive_labels} if cfg.transductive and cfg.cv == "loao" else {}),
        **({"transductive_windows": "unlabelled"}  # validate(): only with transductive_epochs > 0
           if cfg.transductive and cfg.cv == "loao" and cfg.transductive_windows == "unlabelled" else {}),
        **({"transductive_teachers": [str(s) for s in transductive_specs(cfg)]}
           if cfg.transductive and cfg.cv == "loao" and cfg.transductive_teachers else {}),
    }


def train_plain_student(cfg: TrainConfig, x, y, n_classes: int, weights, key: str, progress) -> GRUStudent:
    """The student without distillation (cross-entropy on the labels)."""
    with progress.task(f"{key}: student (no KD)", cfg.student.epochs) as advance:
        torch.manual_seed(cfg.seed)  # every student starts from the same weights
        student = GRUStudent(n_classes, cfg.student.hidden, cfg.student.head)
        fit(student, x, y, make_loss(KDConfig(loss="ce")), cfg.student.epochs, cfg.student.batch_size,
            cfg.student.lr, cfg.seed, weights=weights, on_epoch=lambda *_: advance(), augment=cfg.augmentation())
    return student


TRANSDUCTIVE = "student_kd_transductive"
KD_TEACHER = "kd_teacher"  # the teachers a student was distilled from, combined (methods with several)


def evaluated_models(cfg: TrainConfig) -> tuple[str, ...]:
    """The rows of a cross-validation: every model, the combined teacher of a method that distils
    several, and the transductive student when asked for."""
    return MODEL_NAMES + ((KD_TEACHER,) if get_method(cfg.method.name).combines_teachers else ()) + (STUDENT_AND_FOREST,) \
        + ((TRANSDUCTIVE,) if cfg.transductive and cfg.cv == "loao" else ())


def start_distilled_student(job: StudentJob) -> dict:
    """Where the distilled student starts and for how long: fresh weights for kd.epochs epochs (0:
    the [student] ones), or with kd.start = "no_kd_student" the job's student without KD for
    kd.start_epochs epochs (0: likewise). Returns what method.json records of the start."""
    kd = job.cfg.kd
    # Only the methods that distil through methods.plain.distill_student (kd, ensemble: the ones
    # that also learn from unlabelled windows) take a start; the others train their own way.
    if not get_method(job.cfg.method.name).learns_from_unlabelled:
        return {}
    if kd.start != "no_kd_student":
        job.epochs = kd.epochs or None
        return {"epochs": kd.epochs} if kd.epochs else {}
    if job.no_kd_student is None:
        raise ValueError("kd.start = 'no_kd_student' needs the fold's student without KD")
    job.start_from, job.epochs = job.no_kd_student, kd.start_epochs or None
    return {"start": {"from": "student", "epochs": job.schedule()[0]}}


def train_all(cfg: TrainConfig, win: Windows, key: str, progress, unlabelled_x=None,
              transductive_x=None) -> tuple[dict, dict]:
    """Teacher, student without KD, the distilled student (by cfg.method; with `unlabelled_x`,
    windows of unlabelled recordings, it learns from those too) and the forest on `win`; same
    seed for all. With `transductive_x` (the held-out animal's windows, their labels never
    given), also the transductive student. Returns the models and the method's report."""
    n_classes = len(win.classes)
    weights = class_weights(win.y, n_classes, cfg.class_weighting)
    pool = TeacherPool(cfg, win.x, win.y, n_classes, weights, key, progress, animals=win.animal)
    models = {"teacher": pool.get(pool.main_spec)}
    started = time.time()
    student = models["student"] = train_plain_student(cfg, win.x, win.y, n_classes, weights, key, progress)
    no_kd_seconds = round(time.time() - started, 2)
    pool.adopt_no_kd_student(student)  # a 'gru:<seed>' teacher is this very network: not trained twice
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length}
    job = StudentJob(cfg, resolve_settings(cfg), win.x, win.y, n_classes, win.length, arch, pool, weights, key, progress,
                     no_kd_student=student, unlabelled_x=unlabelled_x)
    start = start_distilled_student(job)
    result = train_student(job)
    result.report.update(start)
    models["student_kd"] = result.student
    if job.combined_teacher is not None:
        models[KD_TEACHER] = job.combined_teacher
    if transductive_x is not None:
        job.unlabelled_x = transductive_x if unlabelled_x is None else np.concatenate([unlabelled_x, transductive_x])
        start = {"start": "a fresh student", **({"epochs": job.epochs} if job.epochs else {})} if job.start_from is None \
            else {"start": "student", "epochs": job.schedule()[0]}
        if cfg.transductive_epochs:  # the strict student, fine-tuned on the held-out windows too
            job.start_from, job.epochs = result.student, cfg.transductive_epochs
            job.lr = cfg.student.lr * cfg.transductive_lr_scale
            job.unlabelled_only = cfg.transductive_windows == "unlabelled"
            start = {"start": "student_kd", "epochs": job.epochs, "lr": job.lr, "windows": cfg.transductive_windows}
        if cfg.transductive_labels != "teachers":
            job.unlabelled_labeller = result.student
        job.unlabelled_teachers = transductive_specs(cfg) or None
        start["labels"] = cfg.transductive_labels
        if job.unlabelled_teachers:  # not "teachers": a method's report (ensemble) names its own so
            start["held_out_teachers"] = [str(s) for s in job.unlabelled_teachers]
        transductive = train_student(job)
        models[TRANSDUCTIVE] = transductive.student
        result.report["transductive"] = {**start, **{k: v for k, v in transductive.report.items() if k != "loss_per_epoch"}}
    # The baseline is the forest teacher of the run's seed where a method trained one already (same recipe).
    models["baseline_rf"] = pool.forest(TeacherSpec(cfg.baseline_forest, cfg.seed))
    models[STUDENT_AND_FOREST] = student_and_forest(models)
    result.report["no_kd_student"] = {"seconds": no_kd_seconds}  # durations go to manifest.json (pop_timings)
    result.report["teacher_seconds"] = {str(k): v for k, v in pool.seconds.items()}  # the baseline forest's too
    if pool.selection:
        result.report["teacher_selection"] = pool.selection
    return models, result.report


def repeat_with_seeds(cfg: TrainConfig, win: Windows, first: dict, progress, run_dir: Path, extra=None,
                      workers: Workers | None = None, store: FoldStore | None = None) -> dict:
    """The cross-validation again with every extra seed (same data, same folds); the spread over
    seeds and the key paired differences, with bootstrap intervals over animals."""
    folds = {cfg.seed: first["folds"]}
    for s in cfg.extra_seeds:
        progress.log(f"cross-validation with seed {s}")  # every fold seeds itself (run_fold)
        folds[s] = cross_validate(replace(cfg, seed=s), win, progress, run_dir / "seeds" / f"seed-{s}", extra, workers,
                                  store)["folds"]
    seed_everything(cfg.seed, cfg.threads)
    return seed_statistics(folds, evaluated_models(cfg))


def unlabelled_windows(cfg: TrainConfig, labelled: Windows) -> Windows | None:
    """Windows of cfg.unlabelled's recordings, cut like the labelled ones. Their labels are read
    only as far as the reader needs them to find bouts; training is handed `.x` alone."""
    if not cfg.unlabelled.path:
        return None
    data = replace(cfg.data, path=cfg.unlabelled.path, format=cfg.unlabelled.format or cfg.data.format, class_map=None,
                   sample_rate=labelled.sample_rate)
    rec, class_map = load_recordings(data, seed=cfg.seed + 1)
    extra = windows_for(rec, class_map.classes, str(labelled.length), str(labelled.stride), cfg.data.frame)
    return replace(extra, y=np.full(len(extra.x), -1, dtype=np.int64))  # the labels go no further


def cross_validate(cfg: TrainConfig, win: Windows, progress, run_dir: Path, extra: Windows | None = None,
                   workers: Workers | None = None, store: FoldStore | None = None) -> dict:
    """Leave-one-animal-out: one job per animal (run_fold), one after another or as Ray tasks;
    the results, and so the run directory, are the same either way."""
    animals = sorted(np.unique(win.animal).tolist())
    if len(animals) < 2:
        raise ConfigError("cv: leave-one-animal-out needs at least two animals; the data has one (use --cv none)")
    rows = evaluated_models(cfg)
    workers = workers or Workers()
    fold_progress = progress if not workers.distributed else Quiet()  # Ray: one bar over the folds instead
    jobs = [(i, animal, len(animals)) for i, animal in enumerate(animals)]
    names = [f"fold {i + 1} (held-out animal {animal})" for i, animal in enumerate(animals)]
    # Folds an interrupted run with these very settings and data finished are taken up, and every
    # fold that finishes now is kept at once (collar_kd/pipeline/fold_store.py).
    print_ = fingerprint(cfg, win, extra) if store is not None else ""
    settings = fold_settings(cfg)
    if store is not None and (note := store.superseded(cfg.seed, print_, settings)):
        progress.warn(note)
        store.notes.append(note)
    kept = {} if store is None else {i: r for i, animal in enumerate(animals)
                                     if (r := store.load(cfg.seed, fold_key(i, animal), print_)) is not None}
    if kept:
        progress.log(f"seed {cfg.seed}: {len(kept)} of {len(animals)} folds taken up from {store.root} "
                     "(finished by an earlier run of the same settings and data)")
    todo = [j for j, job in enumerate(jobs) if job[0] not in kept]

    def keep(_job: int, result: dict) -> None:
        if store is not None:
            store.save(cfg.seed, result["fold"]["key"], print_, result, settings)

    fresh = run_jobs(run_fold, [jobs[j] for j in todo], (cfg, win, extra, rows, fold_progress), [names[j] for j in todo],
                     workers, progress, cpus_per_job=cfg.threads, on_result=keep)
    results = [kept.get(i) for i in range(len(jobs))]
    for j, r in zip(todo, fresh):
        results[j] = r
    pooled_true, pooled_pred = [], {m: [] for m in rows}
    folds, method_reports = [], {}
    for r in results:
        key = r["fold"]["key"]
        if cfg.save_fold_models:
            (run_dir / "folds" / key).mkdir(parents=True, exist_ok=True)
            for name, state in r["states"].items():
                save_state(state, run_dir / "folds" / key / f"{name}.safetensors")
        pooled_true.append(r["y"])
        for m in rows:
            pooled_pred[m].append(r["preds"][m])
        folds.append(r["fold"])
        method_reports[key] = r["report"]
    y = np.concatenate(pooled_true)
    result = {m: classification_metrics(y, np.concatenate(pooled_pred[m]), win.classes) for m in rows}
    result["folds"] = folds
    result["method_reports"] = method_reports
    return result


def fold_key(i: int, animal: str) -> str:
    """A fold's name in the run directory and the fold store: its place among the sorted animals, and the animal."""
    return f"fold-{i:02d}-{animal}"


def run_fold(cfg: TrainConfig, win: Windows, extra: Windows | None, rows: tuple, progress, i: int, animal: str,
             n_folds: int) -> dict:
    """One fold: every model trained on the other animals, evaluated on `animal`. Seeds itself, so
    it gives the same result wherever and in whatever order it runs. Returns the fold's metrics, its
    predictions and, for the run directory, the networks' weights (saved by the caller)."""
    started = time.time()
    seed_everything(cfg.seed, cfg.threads)
    use_device(cfg.device)  # a Ray task is a process of its own
    test = win.animal == animal
    train, held = win.subset(~test), win.subset(test)
    progress.log(f"fold {i + 1}/{n_folds}: held-out animal {animal} ({len(held)} windows)")
    key = fold_key(i, animal)
    # Unlabelled recordings of the held-out animal would make the strict row transductive: left out.
    extra_x = None if extra is None else extra.x[extra.animal != animal]
    # The held-out windows reach the transductive student as x only: their labels stay here.
    models, report = train_all(cfg, train, key, progress, unlabelled_x=extra_x,
                               transductive_x=held.x if TRANSDUCTIVE in rows else None)
    preds = predict_classes(models, held.x)
    fold = {"animal": animal, "key": key, "train_windows": len(train), "test_windows": len(held),
            "test_support": held.class_support(), "train_support": train.class_support()}
    for m in rows:
        fm = classification_metrics(held.y, preds[m], win.classes)
        fold[m] = {k: fm[k] for k in ("mcc", "accuracy", "macro_f1", "confusion")}
    states = {name: {k: v.detach().cpu().clone() for k, v in models[name].state_dict().items()}
              for name in NEURAL_MODELS} if cfg.save_fold_models else {}
    report["fold"] = {"seconds": round(time.time() - started, 2)}  # the whole fold: training and prediction
    return {"fold": fold, "preds": {m: preds[m] for m in rows}, "y": held.y, "report": report, "states": states}


# The comparisons a farm researcher asks about: does distillation pay, against what.
KEY_PAIRS = (("student_kd", "student"), ("student_kd", "baseline_rf"), ("student_kd", "teacher"), ("teacher", "student"),
             (KD_TEACHER, "student"), ("student_kd", KD_TEACHER), (TRANSDUCTIVE, "student_kd"),
             (STUDENT_AND_FOREST, "student_kd"))
# Distillation's dependable gain on the WASP collars is steadiness from seed to seed, not a higher
# mean (docs/methods.md, "Eight seeds"): every run with several seeds measures it.
STEADINESS_PAIRS = (("student_kd", "student"),)


def seed_statistics(folds_by_seed: dict[int, list[dict]], models) -> dict:
    """Per model the pooled MCC's mean and spread over seeds, and how much one animal's MCC moves
    from seed to seed; for KEY_PAIRS the paired difference with a 95% bootstrap interval over
    animals, for STEADINESS_PAIRS the same for that movement; and all of it in sentences."""
    seeds = sorted(folds_by_seed)
    conf = {m: np.array([[f[m]["confusion"] for f in folds_by_seed[s]] for s in seeds]) for m in models}
    pairs = {f"{a} - {b}": paired_difference(conf[a], conf[b]) for a, b in KEY_PAIRS if a in conf and b in conf}
    several = len(seeds) >= 2  # a spread over seeds needs two (bench-accuracy may run one seed alone)
    steadiness = {f"{a} - {b}": paired_steadiness(conf[a], conf[b]) for a, b in STEADINESS_PAIRS
                  if several and a in conf and b in conf}
    return {
        "seeds": seeds,
        "pooled_mcc": {m: summarize_seeds(conf[m]) for m in models},
        **({"seed_spread_per_animal": {m: float(seed_spread_per_animal(conf[m]).mean()) for m in models}} if several else {}),
        "paired_differences": pairs,
        "paired_steadiness": steadiness,
        "in_words": [describe_difference(LABELS[a], LABELS[b], pairs[f"{a} - {b}"]) for a, b in KEY_PAIRS
                     if f"{a} - {b}" in pairs]
                    + [describe_steadiness(LABELS[a], LABELS[b], steadiness[f"{a} - {b}"]) for a, b in STEADINESS_PAIRS
                       if f"{a} - {b}" in steadiness],
    }


def architecture(cfg: TrainConfig, win: Windows) -> dict:
    return {
        "classes": list(win.classes),
        "sample_rate_hz": win.sample_rate,
        "window_length": win.length,
        # The models expect windows in this frame (collar_kd/data/frame.py): predict, evaluate and
        # the device turn a new animal's samples by its own heading first.
        "frame": cfg.data.frame,
        "teacher": {"filters": cfg.teacher.filters, "kernels": cfg.teacher.kernels},
        "student": {"hidden": cfg.student.hidden, "head": cfg.student.head},
        # How student_kd was trained: export quantizes it for these weights by default.
        "student_kd_method": {"name": cfg.method.name, **cfg.method.precision()},
    }


def train_final_models(cfg: TrainConfig, win: Windows, arch: dict, metrics: dict, progress, models_dir: Path,
                       extra: Windows | None = None) -> dict:
    """Every model on all animals, saved for export; with cv = none also their (training-set) metrics."""
    progress.log(f"final models on all {len(np.unique(win.animal))} animals ({len(win)} windows)")
    final, report = train_all(cfg, win, "all", progress, unlabelled_x=None if extra is None else extra.x)
    models_dir.mkdir()
    for name in NEURAL_MODELS:
        save_model(final[name], models_dir / f"{name}.safetensors")
    final["baseline_rf"].save(models_dir / "baseline_rf.npz")
    for name in ("teacher", "student"):
        arch[name].update(params=final[name].param_count(), mults_per_window=final[name].mults_per_window(win.length))
    if cfg.cv == "none":
        preds = predict_classes(final, win.x)
        metrics["evaluated_on"] = "the training data itself (cv = none): optimistic, not a generalisation estimate"
        metrics.update({m: classification_metrics(win.y, preds[m], win.classes) for m in (*MODEL_NAMES, STUDENT_AND_FOREST)})
    return report


TIMING_KEYS = ("seconds", "teacher_seconds")


def pop_timings(doc) -> dict:
    """Remove every measured duration (keys TIMING_KEYS, at any depth) from `doc`; return them in
    the same nesting, for the manifest."""
    if not isinstance(doc, dict):
        return {}
    out = {}
    for key in list(doc):
        if key in TIMING_KEYS:
            out[key] = doc.pop(key)
        elif sub := pop_timings(doc[key]):
            out[key] = sub
            if doc[key] == {}:  # a section that held a duration only (no_kd_student, fold)
                del doc[key]
    return out


def write_run_documents(tmp: Path, cfg: TrainConfig, rec: Recordings, win: Windows, arch: dict, metrics: dict,
                        method_doc: dict, seconds: float, warnings: list[str], device: str = "cpu") -> None:
    (tmp / "models").mkdir(exist_ok=True)
    write_json(tmp / "models" / "models.json", arch)
    timings = pop_timings(method_doc)  # method.json and metrics.json: pure functions of data, settings, seed
    write_json(tmp / "method.json", method_doc)
    write_json(tmp / "metrics.json", metrics)
    write_json(tmp / "config.json", cfg.to_dict())
    write_json(tmp / "manifest.json", {
        "collar_kd": collar_kd.__version__, "python": platform.python_version(),
        "torch": torch.__version__, "numpy": np.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(seconds, 2), "method_timings_s": timings,
        "seed": cfg.seed, "device": device, "data_fingerprint": rec.fingerprint(), "data_source": rec.source,
        "classes": list(win.classes), "models": arch, "warnings": warnings,
    })


def write_plots_and_report(tmp: Path, rec: Recordings, win: Windows, metrics: dict, arch: dict,
                           warnings: list[str]) -> None:
    rows = [m for m in (*MODEL_NAMES, KD_TEACHER, STUDENT_AND_FOREST, TRANSDUCTIVE) if m in metrics]
    for m in rows:
        plot_confusion(metrics[m]["confusion"], win.classes, f"{LABELS[m]} ({metrics['evaluated_on']})",
                       tmp / f"confusion-{m}.png")
    write_report(tmp / "report.md", f"collar-kd run: {rec.source}", metrics, rows,
                 [f"Warning: {w}." for w in warnings] + _report_notes(metrics, arch))


def _report_notes(metrics: dict, arch: dict) -> list[str]:
    notes = [
        f"Evaluated on: {metrics['evaluated_on']}.",
        f"Recipe: {metrics.get('recipe', 'none')} (shipped defaults for this kind of data, under the config file and the "
        "command line: data/recipes/; 'none' is the plain defaults).",
        f"Classes: {', '.join(metrics['classes'])}. Window: {metrics['window']['length']} samples "
        f"({metrics['window']['seconds']:g} s at {metrics['window']['sample_rate_hz']:g} Hz), "
        f"stride {metrics['window']['stride']} samples.",
        f"Windows per class: {metrics['data']['window_support']}.",
        f"Distilled student (student_kd): method '{metrics['method']['name']}', {metrics['method']['description']} (settings in method.json).",
    ]
    if metrics.get("frame", {}).get("name") == "animal":
        turns = ", ".join(f"{a} {d:+.0f}°" for a, d in metrics["frame"]["headings_deg"].items())
        notes.append("Frame: every animal's samples were turned about the sensor's z axis so that its mean x-y acceleration "
                     f"points along +x ({turns}). Each animal's turn comes from its own windows without their labels, "
                     "the held-out animal's too, as a collar does from its own running mean. The held-out rows use the mean of "
                     "all its windows: a collar reaches that heading only once its running mean has settled, and until then "
                     "it turns windows by a partial mean, which scores lower (docs/methods.md, \"How the frame settles on a new animal\").")
    if metrics["data"]["bouts_shorter_than_a_window"]:
        notes.append(f"Bouts skipped because shorter than one window, per class: {metrics['data']['bouts_shorter_than_a_window']}.")
    if metrics["data"]["dropped"]:
        notes.append(f"Dropped while reading: {metrics['data']['dropped']}.")
    if "params" in arch["student"]:
        notes.append(f"Teacher: {arch['teacher']['params']:,} parameters, {arch['teacher']['mults_per_window']:,} multiplications per window. "
                     f"Student: {arch['student']['params']:,} parameters, {arch['student']['mults_per_window']:,} multiplications per window.")
    if "unlabelled" in metrics:
        u = metrics["unlabelled"]
        notes.append(f"The distilled student also learned from {u['windows']} windows of unlabelled recordings ({u['source']}) "
                     "through the teacher's soft labels; in each fold, unlabelled windows of the held-out animal were left out.")
    if TRANSDUCTIVE in metrics:
        named = metrics.get("transductive_teachers")
        who = f"the teacher{'s' if len(named) > 1 else ''} {' and '.join(named)}" if named else "the teacher"
        labeller = {"teachers": f"the soft labels of {who}", "student": "the strict distilled student's own soft labels",
                    "with_student": f"soft labels half from {who}, half from the strict distilled student"}
        alone = metrics.get("transductive_windows") == "unlabelled"
        learned = "was fine-tuned on the held-out animal's windows alone" if alone \
            else "also learned from the held-out animal's windows"
        notes.append(f"{LABELS[TRANSDUCTIVE]}: in every fold this student {learned} "
                     f"through {labeller[metrics.get('transductive_labels', 'teachers')]}, never their labels (adaptation "
                     "to a new farm without labels). Its row is not a strict leave-one-animal-out result; the strict one is "
                     "the distilled student's.")
    if "seeds" in metrics:
        st = metrics["seeds"]
        notes += ["", f"Over {len(st['seeds'])} training seeds ({', '.join(map(str, st['seeds']))}; same data and folds), "
                      "pooled MCC mean (standard deviation, range):", ""]
        for m, v in st["pooled_mcc"].items():
            notes.append(f"- {LABELS[m]}: {v['mean']:.3f} (sd {v['sd']:.3f}, {v['min']:.3f} to {v['max']:.3f})"
                         + (f"; an animal's MCC moves by {st['seed_spread_per_animal'][m]:.3f} from seed to seed (sd)"
                            if "seed_spread_per_animal" in st else ""))
        notes += ["", "Paired differences (bootstrap over animals: how sure we can be on the next animal):", ""]
        notes += [f"- {sentence}" for sentence in st["in_words"]]
    if "folds" in metrics:
        rows = [m for m in (*MODEL_NAMES, KD_TEACHER, STUDENT_AND_FOREST, TRANSDUCTIVE) if m in metrics]
        notes += ["", f"Per fold (held-out animal: test windows per class; MCC {' / '.join(rows)}):", ""]
        for f in metrics["folds"]:
            mccs = " / ".join("n/a" if f[m]["mcc"] is None else f"{f[m]['mcc']:.3f}" for m in rows)
            notes.append(f"- {f['animal']}: {f['test_support']}; {mccs}")
    return notes
