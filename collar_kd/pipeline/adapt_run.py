"""`collar-kd adapt RUN_DIR --data PATH --out NEW_RUN`: a trained run fitted to a new herd from its
unlabelled recordings.

Stages: read the herd's recordings as `predict` does (labels never read; each animal turned by its
own heading when the run's models work in the animal's frame; resampled to the model's rate);
window them at the run's stride, evenly thinned to at most --max-windows; label them by the run's
forest and distilled student (collar_kd/distill/adaptation.py); fine-tune the distilled student on
them alone; write NEW_RUN, a copy of RUN whose student_kd is the adapted student, so that
`collar-kd export` and `predict` take it as they are. Everything goes into a temporary directory
renamed into place at the end.

The evidence for the step is the leave-one-animal-out row "a new farm without labels"
(bench-accuracy): the same fine-tune on the held-out cow, bit for bit (tests/test_adapt.py).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collar_kd.config import DataConfig, MAX_EPOCHS, config_from_dict
from collar_kd.data.windows import parse_span
from collar_kd.distill.adaptation import adaptation_labels, check_labeller, fine_tune_on_unlabelled
from collar_kd.errors import ConfigError, DataError
from collar_kd.pipeline.predict_run import PredictOptions, animal_headings, model_segments
from collar_kd.runs import atomic_directory, load_forest, load_model, read_json, save_model, write_json
from collar_kd.training.loop import class_weights, predict_logits, seed_everything

# Not copied into the adapted run: the cross-validation's fold models belong to the original run.
NOT_COPIED = ("folds",)


@dataclass
class AdaptOptions:
    labeller: str = "forest+student"
    epochs: int = 20  # the collar recipe's transductive_epochs
    lr_scale: float = 1.0  # the collar recipe's transductive_lr_scale: of the run's [student] lr
    max_windows: int = 20_000  # evenly thinned beyond this (the fine-tune's time grows with them)
    stride: str | None = None  # default: the run's
    chunk_rows: int = 50_000
    seed: int | None = None  # synthetic data: the generator's seed (default: the run's seed + 1)

    def check(self) -> None:
        check_labeller(self.labeller)
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise ConfigError(f"--epochs: a whole number from 1 to {MAX_EPOCHS}, not {self.epochs!r}")
        if not 0 < self.lr_scale <= 100:
            raise ConfigError(f"--lr-scale: above 0 and at most 100, not {self.lr_scale!r}")
        if not 1 <= self.max_windows <= 10_000_000:
            raise ConfigError(f"--max-windows: from 1 to 10000000, not {self.max_windows!r}")


def herd_windows(data: DataConfig, arch: dict, stride: int, opts: AdaptOptions,
                 seed: int) -> tuple[np.ndarray, dict, list]:
    """The herd's windows (n, T, 3) in g, in the models' frame and rate; windows per animal; notes.
    Two passes over the data: the windows are counted (and, in the animal frame, each animal's
    heading taken) first, so that every step-th one is kept without holding them all."""
    classes, rate, length = tuple(arch["classes"]), float(arch["sample_rate_hz"]), int(arch["window_length"])
    popts = PredictOptions(stride=None, chunk_rows=opts.chunk_rows, score=False)  # score=False: labels never read
    frame = arch.get("frame", "sensor")
    headings = animal_headings(data, classes, popts, seed) if frame == "animal" else {}
    notes: list[str] = []

    def segments():
        return model_segments(data, arch, popts, seed, headings, notes)

    total = sum(max((len(seg) - length) // stride + 1, 0) for seg in segments())
    if total == 0:
        raise DataError(str(data.path), f"no recording is as long as one window ({length} samples at {rate:g} Hz): "
                        "nothing to adapt to")
    step = -(-total // opts.max_windows)  # ceil: at most max_windows kept
    if step > 1:
        notes.append(f"{total} windows in the recordings; every {step}th kept ({-(-total // step)}), --max-windows "
                     f"{opts.max_windows}")
    kept, per_animal, index = [], {}, 0
    for seg in segments():
        starts = np.arange(0, len(seg) - length + 1, stride) if len(seg) >= length else np.zeros(0, dtype=np.int64)
        take = starts[(index + np.arange(len(starts))) % step == 0]
        index += len(starts)
        if len(take):
            kept.append(np.stack([seg.samples[i:i + length] for i in take]).astype(np.float32))
            per_animal[seg.animal] = per_animal.get(seg.animal, 0) + len(take)
    if frame == "animal":
        notes.append("each animal's samples were turned about the sensor's z axis by its own heading, as in training")
    return np.concatenate(kept), per_animal, notes


def adapt_run(run_dir: Path, data: DataConfig, out: Path, opts: AdaptOptions, progress, force: bool = False) -> dict:
    run_dir = Path(run_dir)
    opts.check()
    started = time.time()
    arch = read_json(run_dir / "models" / "models.json")
    cfg = config_from_dict(read_json(run_dir / "config.json"))
    stride = parse_span(opts.stride or cfg.data.stride, float(arch["sample_rate_hz"]), "stride")
    if stride > int(arch["window_length"]):
        raise ConfigError(f"--stride: at most the window ({arch['window_length']} samples), not {stride}")
    seed = cfg.seed + 1 if opts.seed is None else opts.seed
    if data.format == "synthetic" and data.synthetic_settings is None:
        data.synthetic_settings = cfg.data.synthetic_settings  # the run's generator, new animals (seed)
    # The output directory is claimed (and checked) before the work: a clash is said at once.
    with atomic_directory(out, force=force, inputs={"run": run_dir, "data": data.path}) as tmp:
        summary = adapt_into(tmp, run_dir, cfg, arch, data, stride, seed, opts, progress, started)
    return summary


def adapt_into(tmp: Path, run_dir: Path, cfg, arch: dict, data: DataConfig, stride: int, seed: int, opts: AdaptOptions,
               progress, started: float) -> dict:
    """adapt_run's work once the options are checked and the output claimed: NEW_RUN written into `tmp`."""
    student, _ = load_model(run_dir, "student_kd")
    forest = load_forest(run_dir) if opts.labeller != "student" else None
    classes = list(arch["classes"])
    x, per_animal, notes = herd_windows(data, arch, stride, opts, seed)
    seed_everything(cfg.seed, cfg.threads)
    labels = adaptation_labels(student, forest, x, opts.labeller, cfg)
    weights = None
    if cfg.kd.soft_weighting == "class":  # the soft term weighs a window by its labeller's class, as in training
        from collar_kd.export.exporter import run_windows

        weights = class_weights(run_windows(run_dir, arch)[1], len(classes), cfg.class_weighting)
    lr = cfg.student.lr * opts.lr_scale
    with progress.task(f"adapting the distilled student to {len(x)} windows", opts.epochs) as advance:
        tuned, history = fine_tune_on_unlabelled(student, x, labels, cfg, opts.epochs, lr, weights,
                                                 on_epoch=lambda *_: advance())
    before, after = predict_logits(student, x).argmax(axis=1), predict_logits(tuned, x).argmax(axis=1)
    share = {c: round(float(np.mean(labels.argmax(axis=1) == k)), 4) for k, c in enumerate(classes)}
    forest_kind = "trained on turned copies too" if cfg.baseline_forest == "turned_forest" else "of window statistics"
    summary = {
        "adapted_from": str(run_dir),
        "data": str(data.path),
        "format": data.format,
        "windows": len(x),
        "windows_per_animal": per_animal,
        "labeller": opts.labeller,
        "labeller_described": {"forest+student": f"the run's forest ({forest_kind}) and its distilled student, "
                                                 "half each at the KD temperature",
                               "student": "the run's distilled student itself (self-training)",
                               "forest": f"the run's forest ({forest_kind})"}[opts.labeller],
        "labeller_class_share": share,
        "epochs": opts.epochs,
        "lr": lr,
        "kd_temperature": cfg.kd.temperature,
        "loss_per_epoch": [round(float(v), 5) for v in history],
        "windows_changed_class": round(float(np.mean(before != after)), 4),
        "class_share_before": {c: round(float(np.mean(before == k)), 4) for k, c in enumerate(classes)},
        "class_share_after": {c: round(float(np.mean(after == k)), 4) for k, c in enumerate(classes)},
        "notes": notes,
        "labels_read": False,
        "seconds": None,
    }
    for item in sorted(run_dir.iterdir()):
        if item.name in NOT_COPIED:
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
    save_model(tuned, tmp / "models" / "student_kd.safetensors")
    arch["student_kd_method"] = {**arch.get("student_kd_method", {}), "adapted": {
        k: summary[k] for k in ("data", "windows", "labeller", "epochs", "lr")}}
    write_json(tmp / "models" / "models.json", arch)
    manifest = read_json(tmp / "manifest.json")
    manifest["adapted"] = {k: summary[k] for k in ("adapted_from", "data", "windows", "labeller")}
    write_json(tmp / "manifest.json", manifest)
    summary["seconds"] = round(time.time() - started, 2)
    write_json(tmp / "adaptation.json", summary)
    report = (tmp / "report.md").read_text() if (tmp / "report.md").is_file() else ""
    (tmp / "report.md").write_text(adaptation_section(summary) + "\n" + report)
    return summary


def adaptation_section(s: dict) -> str:
    shares = ", ".join(f"{c} {v:.0%}" for c, v in s["labeller_class_share"].items())
    return (
        f"# Adapted to {s['data']}\n\n"
        f"The distilled student (student_kd) of {s['adapted_from']} was fine-tuned on {s['windows']} windows of "
        f"{len(s['windows_per_animal'])} animal(s) from these recordings, without their labels: {s['epochs']} epochs "
        f"at learning rate {s['lr']:g}, towards the soft labels of {s['labeller_described']} "
        f"(their classes: {shares}). "
        f"It changed the class of {s['windows_changed_class']:.1%} of those windows.\n\n"
        "The figures below are the original run's: they measure the student before this adaptation, on the animals "
        "it was trained on. On the shared WASP collars the same step on a held-out cow's windows (the row \"a new "
        "farm without labels\" of `make bench-accuracy`) raised the pooled MCC over the strict student; see "
        "docs/methods.md for the figures. There is no label here to check it on this herd: `collar-kd predict "
        "--score` on labelled recordings of it would.\n"
    )
