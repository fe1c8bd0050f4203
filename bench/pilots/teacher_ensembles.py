"""Would an ensemble of bench-accuracy's own models be a teacher worth learning from? Judged on the
held-out cows only, without training a network: every fold's saved ResNets, students without KD
and distilled students of seeds 0-2 (bench/work), and the fold's forest of each seed (trained here
as bench-accuracy trains its baseline). The members' class probabilities are averaged.

    python bench/pilots/teacher_ensembles.py       # bench/results/pilots/teacher-ensembles.json

Check: the recipe's pair (the seed's ResNet and forest) must give accuracy-2026-12-05.json's kd_teacher
confusion matrices exactly, or the script stops. Each ensemble is compared with the student
without KD of the same seed (paired, 95% bootstrap over animals, as bench-accuracy does): the
issue's target for a teacher is +0.03 above it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import softmax
from sklearn.metrics import confusion_matrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saved_folds import against_student_without_kd, fold_model, saved_run  # noqa: E402
from accuracy import run_dir  # noqa: E402
from common import machine, write_result  # noqa: E402

from collar_kd.evaluation.baseline import ForestBaseline  # noqa: E402
from collar_kd.training.loop import predict_logits  # noqa: E402

SEEDS = (0, 1, 2)


def others(s: int) -> tuple[int, ...]:
    return tuple(t for t in SEEDS if t != s)


# name -> members for the run of seed s: (model, seed) pairs, or a pair of groups averaged first.
ENSEMBLES = {
    "ResNet + forest (the recipe's teachers)": lambda s: [("teacher", s), ("forest", s)],
    "ResNets of three seeds": lambda s: [("teacher", t) for t in SEEDS],
    "ResNets of three seeds + forest, a quarter each": lambda s: [*(("teacher", t) for t in SEEDS), ("forest", s)],
    "ResNets of three seeds (half) + forest (half)": lambda s: ([("teacher", t) for t in SEEDS], [("forest", s)]),
    "ResNets of two seeds + forest": lambda s: [("teacher", s), ("teacher", others(s)[0]), ("forest", s)],
    "students without KD of three seeds": lambda s: [("student", t) for t in SEEDS],
    "ResNet + forest + student without KD": lambda s: [("teacher", s), ("forest", s), ("student", s)],
    "students without KD of three seeds + ResNet + forest, a third each": lambda s: (
        [("student", t) for t in SEEDS], [("teacher", s)], [("forest", s)]),
    "distilled students of three seeds": lambda s: [("student_kd", t) for t in SEEDS],
    "the student without KD (reference)": lambda s: [("student", s)],
}


def mean_probability(members, probs: dict) -> np.ndarray:
    """Flat list: the members' mean; tuple of groups: the mean of each group's mean."""
    if isinstance(members, tuple):
        return np.mean([mean_probability(list(group), probs) for group in members], axis=0)
    return np.mean([probs[m] for m in members], axis=0)


def postures(win) -> dict:
    """Per cow, the mean acceleration (g, in the animal's frame) of its resting and standing windows:
    where the two postures of one cow lie against the other cows'."""
    mean = win.x.mean(axis=1)
    out = {}
    for animal in sorted(np.unique(win.animal).tolist()):
        for k, name in enumerate(win.classes):
            sel = (win.animal == animal) & (win.y == k)
            if name in ("resting", "standing") and sel.any():
                out.setdefault(animal, {})[name] = {"windows": int(sel.sum()),
                                                    "mean_xyz_g": [round(float(v), 3) for v in mean[sel].mean(axis=0)]}
    return out


def main() -> None:
    started = time.time()
    run, acc, cfg, win, arch = saved_run(SEEDS[0], {})
    committed = json.loads((Path(__file__).resolve().parents[1] / "results" / "accuracy-2026-12-05.json").read_text())
    animals = [f["animal"] for f in acc["folds"]]
    conf = {name: np.zeros((len(SEEDS), len(animals), len(win.classes), len(win.classes)), dtype=np.int64)
            for name in ENSEMBLES}
    for a, f in enumerate(acc["folds"]):
        test = win.animal == f["animal"]
        x, y = win.x[test], win.y[test]
        probs = {}
        for s in SEEDS:
            for name in ("teacher", "student", "student_kd"):
                model = fold_model(run_dir(s), f["key"], name, arch)
                probs[(name, s)] = softmax(predict_logits(model, x).astype(np.float64), axis=1)
            forest = ForestBaseline.fit(win.x[~test], win.y[~test], len(win.classes), cfg.rf_trees, s, cfg.class_weighting,
                                        cfg.threads)
            probs[("forest", s)] = forest.predict_proba(x)
        for name, members in ENSEMBLES.items():
            for i, s in enumerate(SEEDS):
                pred = mean_probability(members(s), probs).argmax(axis=1)
                conf[name][i, a] = confusion_matrix(y, pred, labels=range(len(win.classes)))
        print(f"{f['animal']} done ({time.time() - started:.0f} s)", flush=True)
    recipe = np.array([f["confusion_by_seed"]["kd_teacher"] for f in committed["per_fold"]]).transpose(1, 0, 2, 3)
    if not np.array_equal(conf["ResNet + forest (the recipe's teachers)"], recipe[: len(SEEDS)]):
        sys.exit("teacher_ensembles: the recipe's pair does not reproduce accuracy-2026-12-05.json's kd_teacher: "
                 "other models or forests")
    reference = conf["the student without KD (reference)"]
    doc = {"seeds": list(SEEDS), "animals": animals,
           "how": "held-out class probabilities of bench-accuracy's saved fold models (bench/work) and of forests trained "
                  "as its baseline, averaged per ensemble; minus the student without KD of the same seed, paired, 95% "
                  "percentile bootstrap over animals (10,000 resamples)",
           "recipe_pair_reproduces_accuracy_json": True}
    doc["ensembles"] = against_student_without_kd(conf, reference, animals, width=70)
    doc["resting_and_standing_postures"] = postures(win)
    doc["wall_time_s"] = round(time.time() - started, 1)
    doc["machine"] = machine()
    print(f"written: {write_result('pilots/teacher-ensembles.json', doc)}")


if __name__ == "__main__":
    main()
