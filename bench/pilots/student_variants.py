"""Pilot: one change to the distilled student, on bench-accuracy's saved fold models of one seed.

    python bench/pilots/student_variants.py SEED NAME 'JSON overrides' [ANIMAL,...] [--q]

For every fold (or the animals named), the fold's saved ResNet (bench/work/accuracy-run*) and a
forest of the same recipe teach a student distilled with bench-accuracy's settings plus the
overrides; it is scored on the held-out animal beside the saved no-KD and distilled students of
that seed and fold. --q also quantizes both distilled students to 8 bits (range and mse) and
runs the simulator. Writes bench/results/pilots/student-NAME-sSEED.json. Run make bench-accuracy
first. With no overrides it retrains the saved distilled student bit for bit (checked: seed 0,
cow 1217). A 'gru:K' teacher in method.teachers is seed K's saved no-KD student of the fold
(born-again ensembles: bench-accuracy must have run seed K).
"""
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.metrics import matthews_corrcoef
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import WORK_RUN
from saved_folds import fold_models, saved_gru_teachers, saved_run
from collar_kd.distill.teachers import TeacherPool, parse_teacher_spec
from collar_kd.methods import StudentJob, resolve_settings, train_student
from collar_kd.progress import Quiet

from collar_kd.training.loop import class_weights, predict_logits, seed_everything
from collar_kd.quant.quantizer import quantize_student
from collar_kd.sim import FixedPointSimulator
Q = "--q" in sys.argv
sys.argv = [a for a in sys.argv if a != "--q"]

seed = int(sys.argv[1]); name = sys.argv[2]; overrides = json.loads(sys.argv[3]); only = sys.argv[4].split(",") if len(sys.argv) > 4 else None
run, acc, cfg, win, arch = saved_run(seed, overrides)
job_settings = resolve_settings(cfg)
rows, truth, preds = [], [], {"student": [], "student_kd": [], name: []}
t0 = time.time()
for f in acc["folds"]:
    if only and f["animal"] not in only:
        continue
    seed_everything(cfg.seed, cfg.threads)
    test = win.animal == f["animal"]
    tr = win.subset(~test)
    models = fold_models(run, f["key"], arch)
    n = len(win.classes)
    w = class_weights(tr.y, n, cfg.class_weighting)
    pool = TeacherPool(cfg, tr.x, tr.y, n, w, f["key"], Quiet(), animals=tr.animal)
    pool.put(pool.main_spec, models["teacher"])
    specs = [parse_teacher_spec(t, cfg.seed) for t in getattr(job_settings, "teachers", [])]
    for spec, model in saved_gru_teachers(specs, f["key"], arch).items():  # 'gru:K': seed K's saved no-KD student
        pool.put(spec, model)
    job = StudentJob(cfg, job_settings, tr.x, tr.y, n, tr.length, {k: arch[k] for k in ("classes", "sample_rate_hz", "window_length")},
                     pool, w, f["key"], Quiet(), no_kd_student=models["student"])
    st = train_student(job).student
    yt = win.y[test]; truth.append(yt)
    row = {"animal": f["animal"]}
    if job.combined_teacher is not None:  # what this student learned from, judged on the held-out animal
        p = job.combined_teacher.predict(win.x[test]); preds.setdefault(f"{name}_teacher", []).append(p)
        row[f"{name}_teacher"] = round(float(matthews_corrcoef(yt, p)), 4)
    for m, model in (("student", models["student"]), ("student_kd", models["student_kd"]), (name, st)):
        p = predict_logits(model, win.x[test]).argmax(1); preds[m].append(p); row[m] = round(float(matthews_corrcoef(yt, p)), 4)
    if Q:
        for cal in ("range", "mse"):
            for m, model in (("student_kd", models["student_kd"]), (name, st)):
                q = quantize_student(model, tr.x, arch, 8, cal)
                p = FixedPointSimulator(q).run(q.quantize_input(win.x[test])).classes
                preds.setdefault(f"{m}@8{cal}", []).append(p); row[f"{m}@8{cal}"] = round(float(matthews_corrcoef(yt, p)), 4)
    rows.append(row); print(row, f"{time.time()-t0:.0f}s", flush=True)
y = np.concatenate(truth)
pooled = {m: round(float(matthews_corrcoef(y, np.concatenate(v))), 4) for m, v in preds.items()}
print("POOLED", seed, name, pooled, f"{time.time()-t0:.0f}s")
np.savez(WORK_RUN.parent / f"preds-student-{name}-s{seed}.npz", y=y, **{m: np.concatenate(v) for m, v in preds.items()})  # pooled pairings later
out = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"student-{name}-s{seed}.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"seed": seed, "overrides": overrides, "pooled": pooled, "folds": rows}, indent=1))
