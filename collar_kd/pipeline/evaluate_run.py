"""`collar-kd evaluate`: a trained run's final models on another dataset (a new farm, say)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collar_kd.config import DataConfig, config_from_dict
from collar_kd.data import load_recordings
from collar_kd.data.frame import to_common_frame
from collar_kd.data.windows import make_windows, parse_span
from collar_kd.evaluation.metrics import classification_metrics
from collar_kd.evaluation.report import LABELS, plot_confusion, write_report
from collar_kd.runs import MODEL_NAMES, atomic_directory, load_run_models, read_json, write_json
from collar_kd.evaluation.predict import STUDENT_AND_FOREST, predict_classes, student_and_forest


def evaluate_run(run_dir: Path, data: DataConfig, out: Path, force: bool = False, seed: int | None = None) -> dict:
    run_dir = Path(run_dir)
    models, arch = load_run_models(run_dir)
    run_cfg = config_from_dict(read_json(run_dir / "config.json"))
    classes = tuple(arch["classes"])
    # The models fix the rate and window length; only the stride is the user's to choose.
    data.sample_rate = arch["sample_rate_hz"]
    rec, _ = load_recordings(data, seed=run_cfg.seed + 1 if seed is None else seed)
    stride = parse_span(data.stride, rec.sample_rate, "stride")
    # In the models' frame: each new animal turned by its own heading, from its data, not its labels.
    win = to_common_frame(make_windows(rec, classes, arch["window_length"], stride), arch.get("frame", "sensor"))
    models[STUDENT_AND_FOREST] = student_and_forest(models)
    rows = (*MODEL_NAMES, STUDENT_AND_FOREST)
    preds = predict_classes(models, win.x)
    # A run knows its data: evaluating on what it was trained on is said, never passed off as new animals.
    in_sample = rec.fingerprint() == read_json(run_dir / "manifest.json").get("data_fingerprint")
    metrics = {
        "evaluated_on": f"{rec.source} with the final models of {run_dir}"
                        + (" (IN-SAMPLE: the very data the run was trained on)" if in_sample else ""),
        "in_sample": in_sample,
        "classes": list(classes),
        "window": {"length": win.length, "stride": win.stride, "sample_rate_hz": win.sample_rate},
        "frame": {"name": arch.get("frame", "sensor"), "headings_deg": win.headings},
        "data": {**rec.summary(), "windows": len(win), "window_support": win.class_support(),
                 "bouts_shorter_than_a_window": win.skipped_bouts},
    }
    metrics.update({m: classification_metrics(win.y, preds[m], classes) for m in rows})
    metrics["animals"] = {
        a: {m: classification_metrics(win.y[win.animal == a], preds[m][win.animal == a], classes)["accuracy"]
            for m in rows}
        for a in np.unique(win.animal).tolist()
    }
    with atomic_directory(out, force=force, inputs={"run": run_dir, "data": data.path}) as tmp:
        write_json(tmp / "metrics.json", metrics)
        for m in rows:
            plot_confusion(metrics[m]["confusion"], classes, f"{LABELS[m]} on {rec.source}", tmp / f"confusion-{m}.png")
        write_report(tmp / "report.md", f"collar-kd evaluation of {run_dir}", metrics, rows,
                     [f"Data: {rec.source}; windows per class: {win.class_support()}."])
    return metrics
