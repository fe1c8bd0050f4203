"""Does the animal frame's heading depend on how the cow spent its time, and does that cost?

The frame (collar_kd/data/frame.py) turns every cow about the sensor's z axis by the heading of
the mean x-y of all its samples. A cow that mostly lies and one that mostly stands then get
headings from different postures: on the shared collars the heading from all samples and the one
from grazing windows alone differ by 38-57 degrees on cows 1219, 3120, 3321 and 4821. Would a heading
taken from the windows where the cow moves (grazing, walking: the neck's working posture, the
same activity on every cow) put resting and standing where they belong? Judged without training a
network: the forest of bench-accuracy's recipe, leave-one-animal-out over the ten cows, each
heading in turn.

    python bench/pilots/frame_heading.py          # bench/results/pilots/frame-heading.json

Headings: "all samples" (the recipe), "active windows" (the summed per-axis variance of the
window above ACTIVE_G2, label-free, as a device could do it), "grazing windows" (uses the labels:
a bound, not something a device could do), and the sensor frame. Check: "all samples" must give
accuracy-2026-12-05.json's baseline_rf confusion matrices exactly, or the script stops.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import SETTINGS  # noqa: E402
from common import machine, require_wasp, write_result  # noqa: E402

from collar_kd.config import load_config  # noqa: E402
from collar_kd.data import load_recordings, windows_for  # noqa: E402
from collar_kd.data.frame import heading, turn  # noqa: E402
from collar_kd.evaluation.baseline import ForestBaseline  # noqa: E402
from collar_kd.evaluation.statistics import paired_difference, summarize_seeds  # noqa: E402

SEEDS = (0, 1)
ACTIVE_G2 = 0.02  # g^2: above it 95% of grazing and 75% of walking windows, under 5% of resting or standing


def chooser(name: str, classes: tuple[str, ...]):
    """name -> which of one cow's windows its heading is taken from (None: the sensor frame)."""
    return {
        "all samples (the recipe)": lambda x, y: np.ones(len(x), bool),
        "active windows (variance > 0.02 g^2)": lambda x, y: x.var(axis=1).sum(axis=1) > ACTIVE_G2,
        "grazing windows (uses labels: a bound)": lambda x, y: y == classes.index("grazing"),
        "sensor frame": None,
    }[name]


HEADINGS = ("all samples (the recipe)", "active windows (variance > 0.02 g^2)", "grazing windows (uses labels: a bound)",
            "sensor frame")


def main() -> None:
    started = time.time()
    root = require_wasp()
    cfg = load_config(None, {**{k: v for k, v in SETTINGS.items() if k not in ("transductive", "save_fold_models")},
                             "data.path": str(root)})
    rec, cmap = load_recordings(cfg.data, seed=0)
    win = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, "sensor")
    classes = tuple(win.classes)
    animals = sorted(np.unique(win.animal).tolist())
    committed = json.loads((Path(__file__).resolve().parents[1] / "results" / "accuracy-2026-12-05.json").read_text())
    recipe = {f["animal"]: f["confusion_by_seed"]["baseline_rf"] for f in committed["per_fold"]}
    doc = {"seeds": list(SEEDS), "animals": animals, "active_threshold_g2": ACTIVE_G2,
           "how": "forest of bench-accuracy's recipe (trees, class weighting, seed) on the windows turned by each "
                  "heading, leave-one-animal-out; paired against the recipe's heading, 95% percentile bootstrap over "
                  "animals", "headings_deg": {}, "pooled_mcc": {}, "minus_recipe": {}}
    conf = {}
    for name in HEADINGS:
        choose = chooser(name, classes)
        x = win.x.copy()
        doc["headings_deg"][name] = {}
        for animal in animals:
            mine = win.animal == animal
            if choose is None:
                continue
            sel = choose(win.x[mine], win.y[mine])
            c, s = heading(win.x[mine][sel]) if sel.any() else (1.0, 0.0)
            x[mine] = turn(win.x[mine], c, s)
            doc["headings_deg"][name][animal] = round(float(np.degrees(np.arctan2(s, c))), 1)
        conf[name] = np.zeros((len(SEEDS), len(animals), len(classes), len(classes)), dtype=np.int64)
        for i, seed in enumerate(SEEDS):
            for a, animal in enumerate(animals):
                test = win.animal == animal
                forest = ForestBaseline.fit(x[~test], win.y[~test], len(classes), cfg.rf_trees, seed,
                                            cfg.class_weighting, 2)  # n_jobs does not change the trees
                conf[name][i, a] = confusion_matrix(win.y[test], forest.predict(x[test]), labels=range(len(classes)))
                if name == HEADINGS[0] and not np.array_equal(conf[name][i, a], recipe[animal][seed]):
                    sys.exit(f"frame_heading: the recipe's forest (seed {seed}, cow {animal}) does not reproduce "
                             "accuracy-2026-12-05.json's baseline_rf: other windows or settings")
        doc["pooled_mcc"][name] = summarize_seeds(conf[name])
        d = paired_difference(conf[name], conf[HEADINGS[0]])
        doc["minus_recipe"][name] = {k: d[k] for k in ("difference", "ci_low", "ci_high", "animals_better",
                                                        "animals_worse", "per_animal_difference")}
        print(f"{name:45s} {doc['pooled_mcc'][name]['mean']:.3f} {doc['pooled_mcc'][name]['per_seed']} minus recipe "
              f"{d['difference']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] ({time.time() - started:.0f} s)",
              flush=True)
    doc["recipe_reproduces_accuracy_json"] = True
    doc["wall_time_s"] = round(time.time() - started, 1)
    doc["machine"] = machine()
    print(f"written: {write_result('pilots/frame-heading.json', doc)}")


if __name__ == "__main__":
    main()
