"""Pilot: how the animal's frame settles on a new animal, and what the students lose until it has.

    PILOT_RUNS=NAME python bench/pilots/settling.py SEED[,SEED...]

bench-accuracy's rows in the frame turn every held-out window by the heading of *all* that animal's
windows (what `predict` does, and what a collar has after its first hours). A collar switched on
for a new animal starts with no heading and keeps a running sum (firmware_export/runtime/ckd_frame.c).
Here every held-out window is turned instead by the heading of only the samples that came before
its end: the animal's labelled bouts in time order (their start times), each bout's samples in
order. That is causal and stricter than the device: the WASP collars recorded between the labelled
bouts too (30-57 minutes of labelled samples per cow, spread over 2 to 200 hours), and a device
would have summed those samples as well. So this is a lower bound on the device's frame.

The heading is not the strap's angle alone: gravity's x-y direction differs by behaviour (on cow
1217 resting lies 97 degrees from grazing), so an animal's heading follows the mix of behaviours
in its recording. A third turning probes that: the heading of the animal's windows with every
behaviour it shows weighted equally ("balanced"; the labels set the weights of this probe only,
never a model's input), a mix unlike the labelled one, as a day on the farm would be.

Per seed and fold: the saved no-KD student and distilled student on the held-out animal's windows,
turned by the full heading (must give the run's own figures), by the causal heading and by the
balanced one; pooled MCC of each, and the causal heading's error from the full one after 1, 2, 5, 10 and 20 minutes of
samples. Writes bench/results/pilots/settling-NAME.json (NAME "bench" without PILOT_RUNS).
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saved_folds import fold_model, saved_run  # noqa: E402
from collar_kd.data import load_recordings  # noqa: E402
from collar_kd.data.frame import MIN_HEADING_G, heading, turn  # noqa: E402
from collar_kd.data.loading import parse_span  # noqa: E402
from collar_kd.evaluation.statistics import mcc_from_confusion, paired_difference  # noqa: E402
from collar_kd.training.loop import predict_logits  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

MODELS = ("student", "student_kd")
MINUTES = (1, 2, 5, 10, 20)
HOW = ("every held-out window turned by the heading of the animal's samples up to the window's end (its labelled "
       "bouts in time order), against the heading of all its windows (the run's); saved fold students, no retraining")


def causal_windows(rec, classes, length: int, stride: int):
    """Raw windows in make_windows' order, with, per window, the x-y sums and count of the animal's
    samples up to the window's last sample (its bouts taken in time order)."""
    index = {c: i for i, c in enumerate(classes)}
    xs, ys, animals, sums, counts = [], [], [], [], []
    before = {}  # animal -> (x-y sum, samples) of the bouts that started earlier
    order = sorted(range(len(rec.bouts)), key=lambda i: (rec.bouts[i].animal, rec.bouts[i].start))
    prefix = {}
    for i in order:
        b = rec.bouts[i]
        s, n = before.get(b.animal, (np.zeros(2), 0))
        prefix[i] = (s.copy(), n)
        before[b.animal] = (s + b.samples[:, :2].astype(np.float64).sum(axis=0), n + len(b))
    for i, b in enumerate(rec.bouts):
        if b.label not in index or len(b) < length:
            continue  # make_windows raises on the first, skips the second: same windows as bench-accuracy
        starts = np.arange(0, len(b) - length + 1, stride)
        cum = np.cumsum(b.samples[:, :2].astype(np.float64), axis=0)
        s0, n0 = prefix[i]
        ends = starts + length
        xs.append(b.samples[starts[:, None] + np.arange(length)[None, :]])
        ys.append(np.full(len(starts), index[b.label]))
        animals.append(np.full(len(starts), b.animal, dtype=object))
        sums.append(s0[None, :] + cum[ends - 1])
        counts.append(n0 + ends)
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(animals).astype(str),
            np.concatenate(sums), np.concatenate(counts))


def turned_causally(x, sums, counts):
    out = np.empty_like(x)
    for j in range(len(x)):
        m = sums[j] / counts[j]
        r = float(np.hypot(m[0], m[1]))
        c, s = (1.0, 0.0) if r < MIN_HEADING_G else (m[0] / r, m[1] / r)
        out[j] = turn(x[j], c, s)
    return out


def balanced_heading(x, y) -> tuple[float, float]:
    """(cos, sin) of the mean x-y over the animal's behaviours, each behaviour's mean weighted equally."""
    m = np.mean([x[y == k].reshape(-1, 3).mean(axis=0) for k in np.unique(y)], axis=0)
    r = float(np.hypot(m[0], m[1]))
    return (1.0, 0.0) if r < MIN_HEADING_G else (float(m[0] / r), float(m[1] / r))


def angle_error(sums, counts, c, s) -> np.ndarray:
    a = np.arctan2(sums[:, 1], sums[:, 0]) - np.arctan2(s, c)
    return np.degrees(np.abs((a + np.pi) % (2 * np.pi) - np.pi))


def predict(model, x) -> np.ndarray:
    return predict_logits(model, x).argmax(axis=1)


def main() -> None:
    seeds = [int(v) for v in sys.argv[1].split(",")]
    name = os.environ.get("PILOT_RUNS") or "bench"
    conf = {f"{m}@{how}": [] for m in MODELS for how in ("full", "causal", "balanced")}
    errors = {t: [] for t in MINUTES}
    per_fold = []
    for seed in seeds:
        run, acc, cfg, win, arch = saved_run(seed, {})
        rec, _ = load_recordings(cfg.data, seed=0)
        length = parse_span(cfg.data.window, rec.sample_rate, "window")
        stride = parse_span(cfg.data.stride, rec.sample_rate, "stride")
        x, y, animal, sums, counts = causal_windows(rec, win.classes, length, stride)
        assert np.array_equal(y, win.y) and np.array_equal(animal, win.animal), "windows differ from bench-accuracy's"
        k = len(win.classes)
        rows = {m: [] for m in conf}
        for f in acc["folds"]:
            test = win.animal == f["animal"]
            c, s = heading(x[test])  # the run's heading for the animal: the mean over all its windows
            full = turn(x[test], c, s)
            causal = turned_causally(x[test], sums[test], counts[test])
            cb, sb = balanced_heading(x[test], y[test])
            balanced = turn(x[test], cb, sb)
            err = angle_error(sums[test], counts[test], c, s)
            minutes = counts[test] / rec.sample_rate / 60
            fold = {"seed": seed, "animal": f["animal"], "windows": int(test.sum()),
                    "balanced_heading_error_deg": round(float(angle_error(np.array([[cb, sb]]), np.ones(1), c, s)[0]), 1)}
            for t in MINUTES:
                near = err[minutes <= t]
                fold[f"heading_error_deg_by_{t}_min"] = round(float(near[-1]), 1) if len(near) else None
                if len(near):
                    errors[t].append(float(near[-1]))
            fold["windows_with_heading_error_over_15_deg"] = int((err > 15).sum())
            for m in MODELS:
                model = fold_model(run, f["key"], m, arch)
                for how, xs in (("full", full), ("causal", causal), ("balanced", balanced)):
                    cm = confusion_matrix(y[test], predict(model, xs), labels=range(k))
                    rows[f"{m}@{how}"].append(cm)
                    fold[f"{m}@{how}"] = round(float(mcc_from_confusion(cm)), 4)
                fold[f"{m}@run"] = None if f[m]["mcc"] is None else round(f[m]["mcc"], 4)
            per_fold.append(fold)
            print(json.dumps(fold), flush=True)
        for m in conf:
            conf[m].append(rows[m])
    conf = {m: np.array(v) for m, v in conf.items()}
    out = {"runs": name, "seeds": seeds, "how": HOW, "models": {}, "per_fold": per_fold,
           "heading_error_deg_after_minutes": {str(t): {"median": round(float(np.median(v)), 1),
                                                        "max": round(float(np.max(v)), 1), "folds": len(v)}
                                               for t, v in errors.items() if v}}
    for m in MODELS:
        full = conf[f"{m}@full"]
        out["models"][m] = {"full_heading": [round(float(v), 4) for v in mcc_from_confusion(full.sum(axis=1))]}
        for how in ("causal", "balanced"):
            d = paired_difference(conf[f"{m}@{how}"], full)
            out["models"][m] |= {f"{how}_heading": [round(float(v), 4) for v in mcc_from_confusion(conf[f"{m}@{how}"].sum(axis=1))],
                                 f"{how}_minus_full": round(d["difference"], 4),
                                 f"{how}_ci": [round(d["ci_low"], 4), round(d["ci_high"], 4)],
                                 f"{how}_animals_worse": d["animals_worse"]}
        print(m, out["models"][m], flush=True)
    path = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"settling-{name}.json"
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
