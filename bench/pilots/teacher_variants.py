"""Pilot: one change to the teacher's recipe, on bench-accuracy's folds of one seed.

    python bench/pilots/teacher_variants.py SEED NAME 'JSON overrides' [ANIMAL,...]

For every fold, a ResNet trained with bench-accuracy's settings plus the overrides, it with the
forest (their mean probability), and the student distilled from the two, beside the saved
models of that seed and fold. Writes bench/results/pilots/teacher-NAME-sSEED.json.
"""
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.metrics import matthews_corrcoef
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import WORK_RUN
from saved_folds import fold_models, saved_run
from collar_kd.distill.teachers import TeacherPool
from collar_kd.methods import StudentJob, resolve_settings, train_student
from collar_kd.progress import Quiet

from collar_kd.training.loop import class_weights, predict_logits, seed_everything

seed = int(sys.argv[1]); name = sys.argv[2]; overrides = json.loads(sys.argv[3]); only = sys.argv[4].split(",") if len(sys.argv) > 4 else None
run, acc, cfg, win, arch = saved_run(seed, overrides)
keep = WORK_RUN.parent / "pilot-teachers" / name / f"s{seed}"
rows, truth = [], []
cols = ["teacher", "kd_teacher", "student", "student_kd", "new_teacher", "new_kd_teacher", "new_student_kd"]
preds = {c: [] for c in cols}
t0 = time.time()
for f in acc["folds"]:
    if only and f["animal"] not in only:
        continue
    seed_everything(cfg.seed, cfg.threads)
    test = win.animal == f["animal"]
    tr = win.subset(~test)
    old = fold_models(run, f["key"], arch)
    n = len(win.classes)
    w = class_weights(tr.y, n, cfg.class_weighting)
    pool = TeacherPool(cfg, tr.x, tr.y, n, w, f["key"], Quiet(), animals=tr.animal, directory=keep / f["key"])
    job = StudentJob(cfg, resolve_settings(cfg), tr.x, tr.y, n, tr.length, {k: arch[k] for k in ("classes", "sample_rate_hz", "window_length")},
                     pool, w, f["key"], Quiet(), no_kd_student=old["student"])
    res = train_student(job)
    newt = pool.get(pool.main_spec)
    oldpool = TeacherPool(cfg, tr.x, tr.y, n, w, f["key"], Quiet(), animals=tr.animal)
    oldpool.put(oldpool.main_spec, old["teacher"])
    oldpool.models[[s for s in pool.models if s.arch == "forest"][0]] = [m for s, m in pool.models.items() if s.arch == "forest"][0]
    xt, yt = win.x[test], win.y[test]; truth.append(yt)
    specs = [s for s in pool.models]
    outs = {"teacher": predict_logits(old["teacher"], xt).argmax(1), "student": predict_logits(old["student"], xt).argmax(1),
            "student_kd": predict_logits(old["student_kd"], xt).argmax(1),
            "kd_teacher": oldpool.combined(sorted(oldpool.models, key=lambda s: s.arch != "resnet")).predict(xt),
            "new_teacher": predict_logits(newt, xt).argmax(1), "new_kd_teacher": job.combined_teacher.predict(xt) if job.combined_teacher else predict_logits(newt, xt).argmax(1),
            "new_student_kd": predict_logits(res.student, xt).argmax(1)}
    row = {"animal": f["animal"], **{c: round(float(matthews_corrcoef(yt, outs[c])), 4) for c in cols}, "selection": {k: v.get("epoch") for k, v in pool.selection.items()}}
    for c in cols: preds[c].append(outs[c])
    rows.append(row); print(row, f"{time.time()-t0:.0f}s", flush=True)
y = np.concatenate(truth)
pooled = {m: round(float(matthews_corrcoef(y, np.concatenate(v))), 4) for m, v in preds.items()}
print("POOLED", seed, name, pooled, f"{time.time()-t0:.0f}s")
np.savez(WORK_RUN.parent / f"preds-teacher-{name}-s{seed}.npz", y=y, **{m: np.concatenate(v) for m, v in preds.items()})  # pooled pairings later
out = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"teacher-{name}-s{seed}.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"seed": seed, "overrides": overrides, "pooled": pooled, "folds": rows}, indent=1))
