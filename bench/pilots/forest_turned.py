"""The forest baseline trained on turned copies too (rf_turned_copies): every network of the recipe
sees each training window turned at random by at most 15, 15 and 45 degrees; the forest saw them
only as they are. Judged on the held-out cows, seeds 0-2, bench-accuracy's folds; no network is
trained (the students are bench-accuracy's saved fold models, for the paired differences).

    python bench/pilots/forest_turned.py K 0      # bench/results/pilots/forest-turned.json
    python bench/pilots/forest_turned.py K 1,2    # bench/results/pilots/forest-turned-seeds-1-2.json

Check: the forest without copies must give accuracy-2026-12-05.json's baseline_rf confusion matrices exactly,
or the script stops. The forests are trained by the package's own TeacherPool.forest, as `train`
trains the baseline.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saved_folds import against_student_without_kd, fold_model, saved_run  # noqa: E402
from accuracy import run_dir  # noqa: E402
from common import machine, write_result  # noqa: E402

from collar_kd.distill.teachers import TeacherPool, TeacherSpec  # noqa: E402
from collar_kd.training.loop import predict_logits  # noqa: E402

SEEDS = (0, 1, 2)


def main() -> None:
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    seeds = tuple(int(v) for v in sys.argv[2].split(",")) if len(sys.argv) > 2 else SEEDS
    started = time.time()
    run, acc, cfg, win, arch = saved_run(seeds[0], {})
    committed = json.loads((Path(__file__).resolve().parents[1] / "results" / "accuracy-2026-12-05.json").read_text())
    animals = [f["animal"] for f in acc["folds"]]
    n = len(win.classes)
    rows = ("forest", f"forest, {k} turned copies", "student without KD", "distilled student")
    conf = {r: np.zeros((len(seeds), len(animals), n, n), dtype=np.int64) for r in rows}
    for a, f in enumerate(acc["folds"]):
        test = win.animal == f["animal"]
        y = win.y[test]
        for i, s in enumerate(seeds):
            for row, copies in ((rows[0], 0), (rows[1], k)):
                c = replace(cfg, seed=s, rf_turned_copies=copies)
                forest = TeacherPool(c, win.x[~test], win.y[~test], n, None, f["key"]).forest(TeacherSpec("forest", s))
                conf[row][i, a] = confusion_matrix(y, forest.predict(win.x[test]), labels=range(n))
            for row, name in ((rows[2], "student"), (rows[3], "student_kd")):
                pred = predict_logits(fold_model(run_dir(s), f["key"], name, arch), win.x[test]).argmax(1)
                conf[row][i, a] = confusion_matrix(y, pred, labels=range(n))
        print(f"{f['animal']} done ({time.time() - started:.0f} s)", flush=True)
    want = np.array([f["confusion_by_seed"]["baseline_rf"] for f in committed["per_fold"]]).transpose(1, 0, 2, 3)
    if not np.array_equal(conf["forest"], want[list(seeds)]):
        sys.exit("forest_turned: the forest without copies does not reproduce accuracy-2026-12-05.json's baseline_rf")
    doc = {"seeds": list(seeds), "animals": animals, "turned_copies": k,
           "how": f"forests trained as `train` trains its baseline (TeacherPool.forest), with and without rf_turned_copies={k} "
                  "(the recipe's rotations, 15/15/45 degrees); bench-accuracy's saved students of the same seeds and folds; "
                  "minus the student without KD, paired, 95% percentile bootstrap over animals (10,000 resamples)",
           "forest_without_copies_reproduces_accuracy_json": True}
    doc["rows"] = against_student_without_kd(conf, conf["student without KD"], animals)
    doc["wall_time_s"] = round(time.time() - started, 1)
    doc["machine"] = machine()
    name = "forest-turned" if seeds == (0,) else f"forest-turned-seeds-{'-'.join(map(str, seeds))}"
    print(f"written: {write_result(f'pilots/{name}.json', doc)}")


if __name__ == "__main__":
    main()
