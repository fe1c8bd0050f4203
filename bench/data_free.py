"""make bench-data-free: the data-free student against the KD student of bench-accuracy, on the same
folds and the same (seed-0) fold teachers that bench-accuracy saved.

Variants: DAFL as published, and DAFL with the collar-physics priors (gravity near 1 g, bounded
sample-to-sample steps), each a switch of the data-free method. The student never sees a real
window or label; the teacher (trained on the fold's real training windows) is its only link.
Writes bench/results/data_free.json. Run `make bench-accuracy` first.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from safetensors.torch import load_file
from sklearn.metrics import matthews_corrcoef

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import SETTINGS, WORK_RUN  # noqa: E402
from common import machine, require_wasp, write_result  # noqa: E402

from collar_kd.config import load_config  # noqa: E402
from collar_kd.data import load_recordings, windows_for  # noqa: E402
from collar_kd.distill.teachers import TeacherPool  # noqa: E402
from collar_kd.methods import StudentJob, resolve_settings, train_student  # noqa: E402
from collar_kd.progress import Quiet  # noqa: E402
from collar_kd.runs import build_model, read_json  # noqa: E402
from collar_kd.training.loop import predict_logits, seed_everything  # noqa: E402

VARIANTS = {
    "dafl": {},
    "dafl + physics priors": {"method.gravity_weight": 1.0, "method.jerk_weight": 1.0},
    # Additions to DAFL, all switched on: a class-conditional generator (every behaviour is
    # generated), the teacher's batch-norm statistics, and the collar-physics priors.
    "dafl + class-conditional + batch-norm statistics + physics priors": {
        "method.class_conditional": True, "method.bn_statistics_weight": 0.1,
        "method.gravity_weight": 1.0, "method.jerk_weight": 1.0},
}


def main() -> None:
    root = require_wasp()
    metrics_path = WORK_RUN / "metrics.json"
    if not metrics_path.is_file():
        sys.exit(f"bench: {metrics_path} not found: run `make bench-accuracy` first (its fold teachers are reused)")
    acc = read_json(metrics_path)
    # The data-free student is its own method: bench-accuracy's method settings are not its.
    base = {k: v for k, v in SETTINGS.items() if k not in ("transductive", "save_fold_models") and not k.startswith("method.")}
    saved_frame = read_json(WORK_RUN / "config.json")["data"].get("frame", "sensor")  # the fold teachers' windows
    cfg0 = load_config(None, {**base, "data.path": str(root), "threads": 2, "data.frame": saved_frame})
    seed_everything(cfg0.seed, cfg0.threads)
    rec, cmap = load_recordings(cfg0.data, seed=cfg0.seed)
    win = windows_for(rec, cmap.classes, cfg0.data.window, cfg0.data.stride, cfg0.data.frame)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length,
            "teacher": {"filters": cfg0.teacher.filters, "kernels": cfg0.teacher.kernels},
            "student": {"hidden": cfg0.student.hidden, "head": cfg0.student.head}}
    started = time.time()
    truth, preds, per_fold = [], {v: [] for v in VARIANTS} | {"student_kd (real data)": []}, []
    for f in acc["folds"]:
        test = win.animal == f["animal"]
        folds_dir = WORK_RUN / "folds" / f["key"]
        teacher = build_model("teacher", arch)
        teacher.load_state_dict(load_file(str(folds_dir / "teacher.safetensors")))
        kd = build_model("student_kd", arch)
        kd.load_state_dict(load_file(str(folds_dir / "student_kd.safetensors")))
        truth.append(win.y[test])
        preds["student_kd (real data)"].append(predict_logits(kd.eval(), win.x[test]).argmax(1))
        row = {"animal": f["animal"]}
        for name, overrides in VARIANTS.items():
            cfg = load_config(None, {**base, "data.path": str(root), "threads": 2, "method.name": "data-free", **overrides})
            # Only the teacher is handed over; the real training windows stay out of the job.
            pool = TeacherPool(cfg, np.zeros((0, win.length, 3), np.float32), np.zeros(0, np.int64), len(win.classes), None, f["key"])
            pool.put(pool.main_spec, teacher.eval())
            job = StudentJob(cfg, resolve_settings(cfg), pool.x, pool.y, len(win.classes), win.length,
                             {k: arch[k] for k in ("classes", "sample_rate_hz", "window_length")}, pool, None, f["key"], Quiet())
            result = train_student(job)
            p = predict_logits(result.student, win.x[test]).argmax(1)
            preds[name].append(p)
            row[name] = {"mcc": float(matthews_corrcoef(win.y[test], p)),
                         "teacher_class_share_on_generated": result.report["teacher_class_share_on_generated"]}
        per_fold.append(row)
        print(f"fold {f['animal']}: " + ", ".join(f"{k} {v['mcc']:.3f}" for k, v in row.items() if k != "animal"), flush=True)
    y = np.concatenate(truth)
    pooled = {k: float(matthews_corrcoef(y, np.concatenate(v))) for k, v in preds.items()}
    best = max(pooled[v] for v in VARIANTS)
    doc = {
        "dataset": str(root), "teachers": f"bench-accuracy's seed-{cfg0.seed} fold teachers ({WORK_RUN})",
        "variants": VARIANTS, "pooled_mcc": pooled, "per_fold": per_fold,
        "targets": {"data_free_within_0.15_of_kd": {
            "target": ">= KD (real data) - 0.15", "measured": round(best - pooled["student_kd (real data)"], 4),
            "met": best >= pooled["student_kd (real data)"] - 0.15}},
        "wall_time_s": round(time.time() - started, 1), "machine": machine(),
    }
    print(f"wrote {write_result('data_free.json', doc)}")
    for k, v in pooled.items():
        print(f"  {k:28s} pooled MCC {v:.4f}")


if __name__ == "__main__":
    main()
