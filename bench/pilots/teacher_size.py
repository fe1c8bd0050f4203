"""Pilot: a cheaper ResNet teacher (other filters / epochs), alone and with the forest (their mean
probability: the ensemble teacher bench-accuracy distils from), on bench-accuracy's folds, beside
the per-fold MCC bench/results/accuracy-2026-12-05.json recorded for the same seeds. Trains teachers only.

    python bench/pilots/teacher_size.py NAME 'JSON overrides' SEEDS PART/PARTS

PART/PARTS splits the (seed, fold) jobs between processes (0/2 and 1/2 on two cores); run
bench/pilots/teacher_size.py NAME --pool afterwards to pool the parts. Writes
bench/results/pilots/teacher-size-NAME.json.
"""
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.metrics import matthews_corrcoef
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import SETTINGS, WORK_RUN  # noqa: E402
from common import require_wasp  # noqa: E402
from collar_kd.config import load_config  # noqa: E402
from collar_kd.data import load_recordings, windows_for  # noqa: E402
from collar_kd.distill.teachers import FOREST, TeacherPool, TeacherSpec  # noqa: E402
from collar_kd.progress import Quiet  # noqa: E402
from collar_kd.training.loop import class_weights, predict_logits, seed_everything  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"
name = sys.argv[1]
parts_dir = WORK_RUN.parent / "pilot-teacher-size" / name
if sys.argv[2] == "--pool":
    acc = json.loads((RESULTS / "accuracy-2026-12-05.json").read_text())
    parts = [np.load(p) for p in sorted(parts_dir.glob("*.npz"))]
    rows = {}
    for p in parts:
        for k in p.files:
            rows[k] = p[k]
    seeds = sorted({int(k.split("|")[0]) for k in rows})
    out = {"name": name, "overrides": json.loads((parts_dir / "overrides.json").read_text()), "seeds": seeds, "per_seed": {}}
    for s in seeds:
        keys = sorted(k for k in rows if k.startswith(f"{s}|") and k.endswith("|y"))
        if len(keys) < len(acc["per_fold"]):
            print(f"seed {s}: {len(keys)} of {len(acc['per_fold'])} folds done, left out"); continue
        y = np.concatenate([rows[k] for k in keys])
        res = {}
        for m in ("teacher", "kd_teacher"):
            res[m] = round(float(matthews_corrcoef(y, np.concatenate([rows[k[:-1] + m] for k in keys]))), 4)
            res[f"{m}_recorded"] = round(acc["pooled_mcc"][m]["per_seed"][acc["seeds"].index(s)], 4)
        res["seconds_per_teacher"] = round(float(np.mean([rows[k[:-1] + "seconds"] for k in keys])), 1)
        out["per_seed"][s] = res
        print(s, res)
    seeds = sorted(out["per_seed"]); out["seeds"] = seeds
    for m in ("teacher", "kd_teacher"):
        new = [out["per_seed"][s][m] for s in seeds]; old = [out["per_seed"][s][f"{m}_recorded"] for s in seeds]
        out[m] = {"mean": round(float(np.mean(new)), 4), "recorded_mean": round(float(np.mean(old)), 4),
                  "mean_difference": round(float(np.mean(np.subtract(new, old))), 4)}
        print(m, out[m])
    (RESULTS / "pilots").mkdir(parents=True, exist_ok=True)
    (RESULTS / "pilots" / f"teacher-size-{name}.json").write_text(json.dumps(out, indent=1))
    sys.exit(0)

overrides = json.loads(sys.argv[2]); seeds = [int(s) for s in sys.argv[3].split(",")]
part, parts = (int(v) for v in sys.argv[4].split("/"))
parts_dir.mkdir(parents=True, exist_ok=True)
(parts_dir / "overrides.json").write_text(json.dumps(overrides))
root = require_wasp()
base = {k: v for k, v in SETTINGS.items() if k not in ("transductive", "save_fold_models")}
cfg0 = load_config(None, {**base, "data.path": str(root), **overrides})
rec, cmap = load_recordings(cfg0.data, seed=0)
win = windows_for(rec, cmap.classes, cfg0.data.window, cfg0.data.stride, cfg0.data.frame)
animals = sorted(np.unique(win.animal).tolist())
jobs = [(s, a) for s in seeds for a in animals][part::parts]
out, t0 = {}, time.time()
for s, a in jobs:
    cfg = load_config(None, {**base, "data.path": str(root), "seed": s, **overrides})
    seed_everything(s, 1)
    test = win.animal == a
    tr = win.subset(~test)
    n = len(win.classes)
    pool = TeacherPool(cfg, tr.x, tr.y, n, class_weights(tr.y, n, cfg.class_weighting), a, Quiet(), animals=tr.animal)
    started = time.time()
    teacher = pool.get(pool.main_spec)
    secs = time.time() - started
    both = pool.combined([pool.main_spec, TeacherSpec(FOREST, s)])
    xt = win.x[test]
    out[f"{s}|{a}|y"] = win.y[test]
    out[f"{s}|{a}|teacher"] = predict_logits(teacher, xt).argmax(1)
    out[f"{s}|{a}|kd_teacher"] = both.predict(xt)
    out[f"{s}|{a}|seconds"] = np.array(secs)
    print(s, a, round(float(matthews_corrcoef(win.y[test], out[f"{s}|{a}|teacher"])), 4),
          round(float(matthews_corrcoef(win.y[test], out[f"{s}|{a}|kd_teacher"])), 4), f"{secs:.0f}s", f"{time.time()-t0:.0f}s", flush=True)
    np.savez(parts_dir / f"part-{part}.npz", **out)  # after every job: a stopped pilot keeps what it finished
