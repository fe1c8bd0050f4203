"""Do turned copies help the small forests that fit a collar? The forests bench-mcu flashes (10
trees of depth 6, 20 of depth 8) trained with and without rf_turned_copies' copies (the recipe's
rotations, drawn with the forest's seed, as TeacherPool.forest draws them), on bench-accuracy's
folds of seed 0. Node counts say what the flash would hold.

    python bench/pilots/small_forest_turned.py      # bench/results/pilots/small-forest-turned.json
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saved_folds import saved_run  # noqa: E402
from common import machine, write_result  # noqa: E402
from mcu import fit_forest  # noqa: E402

from collar_kd.evaluation.statistics import mcc_from_confusion  # noqa: E402

SEED = 0
SHAPES = ((10, 6), (20, 8), (200, None))  # (trees, depth): bench-mcu's two device forests and the run's own


def main() -> None:
    started = time.time()
    run, acc, cfg, win, arch = saved_run(SEED, {})
    n = len(win.classes)
    doc = {"seed": SEED, "animals": [f["animal"] for f in acc["folds"]], "forests": {}}
    for trees, depth in SHAPES:
        for copies in (0, 4):
            conf, nodes, per_animal = [], [], []
            for f in acc["folds"]:
                test = win.animal == f["animal"]
                forest = fit_forest(win.x[~test], win.y[~test], n, trees, depth, SEED, copies,
                                    cfg.augmentation().rotation_limits)
                c = confusion_matrix(win.y[test], forest.predict(win.x[test]), labels=range(n))
                conf.append(c)
                per_animal.append(round(float(mcc_from_confusion(c)), 3))
                nodes.append(sum(len(t["feature"]) for t in forest.trees))
            name = f"{trees} trees, depth {depth or 'unlimited'}, {copies} turned copies"
            doc["forests"][name] = {"pooled_mcc": round(float(mcc_from_confusion(np.sum(conf, axis=0))), 4),
                                    "mcc_per_animal": dict(zip(doc["animals"], per_animal)),
                                    "nodes_mean_per_fold": int(np.mean(nodes))}
            print(f"  {name:45s} {doc['forests'][name]['pooled_mcc']:.3f}  nodes {doc['forests'][name]['nodes_mean_per_fold']}",
                  flush=True)
    doc["wall_time_s"] = round(time.time() - started, 1)
    doc["machine"] = machine()
    print(f"written: {write_result('pilots/small-forest-turned.json', doc)}")


if __name__ == "__main__":
    main()
