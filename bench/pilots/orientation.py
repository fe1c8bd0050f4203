"""Pilot: each animal's windows turned about the sensor's z axis into one frame, label-free.

    python bench/pilots/orientation.py SEED NAME 'JSON overrides' [ANIMAL,...] [--raw | --window]

On the WASP collars the box sits at a different angle about its own face normal (z) on every
cow: x and y change sign and swap from cow to cow, z stays near -0.85 g (docs/methods.md). Here
every animal's windows are turned about z so that the mean of all its samples points along +x in
the x-y plane: no labels used, only the animal's own long-run mean (what a collar can keep as a
running mean). Then the student without KD and the forest are trained with bench-accuracy's
settings plus the overrides (for example a smaller rotation augmentation, which the common frame
may allow), and scored on the held-out animal beside the saved no-KD student of that seed and fold
(trained on the windows as they are). --raw trains on the windows as they are (the control: the same overrides without the common
frame); --window turns each window by its own mean instead (no state across windows, strict
leave-one-animal-out). Writes bench/results/pilots/orientation-NAME-sSEED.json. Since bench-accuracy
runs in the animal's frame (2026-12-03) its saved runs are framed already: the committed results
compare against the sensor-frame runs, `PILOT_RUNS=sensor python bench/pilots/orientation.py ...`.
"""
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.metrics import matthews_corrcoef
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from saved_folds import fold_model, saved_run
from collar_kd.data.frame import to_common_frame, turn
from collar_kd.distill.teachers import FOREST, TeacherPool, TeacherSpec
from collar_kd.pipeline.train_run import train_plain_student
from collar_kd.progress import Quiet
from collar_kd.training.loop import class_weights, predict_logits, seed_everything


def window_frame(x: np.ndarray) -> np.ndarray:
    """Every window turned about z by minus the angle of its own mean x-y: no state, strict LOAO."""
    mean = x.mean(axis=1)
    theta = np.arctan2(mean[:, 1], mean[:, 0])
    return turn(x, np.cos(theta)[:, None], np.sin(theta)[:, None])


if __name__ == "__main__":
    RAW, WINDOW = "--raw" in sys.argv, "--window" in sys.argv
    sys.argv = [a for a in sys.argv if a not in ("--raw", "--window")]
    seed = int(sys.argv[1]); name = sys.argv[2]; overrides = json.loads(sys.argv[3])
    only = sys.argv[4].split(",") if len(sys.argv) > 4 else None
    run, acc, cfg, win, arch = saved_run(seed, overrides)
    turned = win.x if RAW else window_frame(win.x) if WINDOW else to_common_frame(win, "animal").x
    rows, truth, preds = [], [], {"student": [], name: [], f"{name}_rf": []}
    t0 = time.time()
    for f in acc["folds"]:
        if only and f["animal"] not in only:
            continue
        seed_everything(cfg.seed, cfg.threads)
        test = win.animal == f["animal"]
        n = len(win.classes)
        y_tr = win.y[~test]
        w = class_weights(y_tr, n, cfg.class_weighting)
        st = train_plain_student(cfg, turned[~test], y_tr, n, w, f["key"], Quiet())
        pool = TeacherPool(cfg, turned[~test], y_tr, n, w, f["key"], Quiet(), animals=win.animal[~test])
        rf = pool.forest(TeacherSpec(FOREST, cfg.seed))
        yt = win.y[test]; truth.append(yt)
        row = {"animal": f["animal"]}
        for m, p in (("student", predict_logits(fold_model(run, f["key"], "student", arch), win.x[test]).argmax(1)),
                     (name, predict_logits(st, turned[test]).argmax(1)), (f"{name}_rf", rf.predict(turned[test]))):
            preds[m].append(p); row[m] = round(float(matthews_corrcoef(yt, p)), 4)
        rows.append(row); print(row, f"{time.time()-t0:.0f}s", flush=True)
    y = np.concatenate(truth)
    pooled = {m: round(float(matthews_corrcoef(y, np.concatenate(v))), 4) for m, v in preds.items()}
    print("POOLED", seed, name, pooled, f"{time.time()-t0:.0f}s")
    out = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"orientation-{name}-s{seed}.json"
    out.write_text(json.dumps({"seed": seed, "overrides": overrides, "common_frame": "none" if RAW else "window" if WINDOW else "animal", "pooled": pooled,
                               "folds": rows}, indent=1))
