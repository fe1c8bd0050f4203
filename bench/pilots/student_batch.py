"""Pilot: the student without KD with other training settings (a larger batch, to make
bench-accuracy faster), on bench-accuracy's folds and seeds, against its saved results.

    python bench/pilots/student_batch.py NAME SEEDS 'JSON overrides' [--jobs 2] [--control ANIMAL]

Every fold's student without KD is trained as bench-accuracy's fold job trains it
(train_run.train_plain_student, the seed's settings) with the overrides, and judged on the held-out
cow against the same seed's student in bench/results/accuracy-2026-12-05.json (per-cow MCC and pooled MCC
from its confusion matrices). `--control ANIMAL` also trains that fold's student without the
overrides, which must give accuracy-2026-12-05.json's confusion matrix exactly. Writes
bench/results/pilots/student-batch-NAME.json with the seconds each student took.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import SETTINGS  # noqa: E402
from common import RESULTS, bootstrap_mean, fold_split, machine, require_wasp, worker_pool, write_result  # noqa: E402


def train_one(seed: int, animal: str, overrides: dict) -> dict:
    from sklearn.metrics import confusion_matrix

    from collar_kd.config import load_config
    from collar_kd.pipeline.train_run import train_plain_student
    from collar_kd.progress import Quiet
    from collar_kd.training.loop import class_weights, predict_logits, seed_everything

    cfg = load_config(None, {**SETTINGS, "data.path": str(require_wasp()), "seed": seed, **overrides})
    seed_everything(cfg.seed, cfg.threads)
    split = fold_split(cfg, animal)
    weights = class_weights(split.train.y, split.n_classes, cfg.class_weighting)
    started = time.time()
    student = train_plain_student(cfg, split.train.x, split.train.y, split.n_classes, weights, split.key, Quiet())
    seconds = time.time() - started
    pred = predict_logits(student, split.xt).argmax(axis=1)
    return {"seed": seed, "animal": animal, "seconds": round(seconds, 1),
            "confusion": confusion_matrix(split.yt, pred, labels=split.labels).tolist()}


def main() -> None:
    from collar_kd.evaluation.statistics import mcc_from_confusion, pooled_mcc_per_seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("seeds")
    ap.add_argument("overrides")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--control", default=None, metavar="ANIMAL")
    args = ap.parse_args()
    overrides, seeds = json.loads(args.overrides), [int(s) for s in args.seeds.split(",")]
    ref = json.loads((RESULTS / "accuracy-2026-12-05.json").read_text())
    animals = [f["animal"] for f in ref["per_fold"]]
    ref_conf = {(s, f["animal"]): f["confusion_by_seed"]["student"][ref["seeds"].index(s)] for f in ref["per_fold"] for s in seeds}
    jobs = [(s, a, overrides) for s in seeds for a in animals]
    if args.control:
        jobs.insert(0, (seeds[0], args.control, {}))
    started = time.time()
    with worker_pool(args.jobs) as ex:
        results = list(ex.map(train_one, *zip(*jobs)))
    control = None
    if args.control:
        c = results.pop(0)
        control = {"animal": args.control, "seed": seeds[0], "seconds": c["seconds"],
                   "reproduces_accuracy_json": c["confusion"] == ref_conf[(seeds[0], args.control)]}
        if not control["reproduces_accuracy_json"]:
            sys.exit(f"student_batch: the control fold ({args.control}) did not reproduce "
                     "accuracy-2026-12-05.json's student")
    new = np.array([[next(r["confusion"] for r in results if r["seed"] == s and r["animal"] == a) for a in animals] for s in seeds])
    old = np.array([[ref_conf[(s, a)] for a in animals] for s in seeds])
    per_animal = (mcc_from_confusion(new) - mcc_from_confusion(old)).mean(axis=0)
    lo, hi = bootstrap_mean(per_animal)
    doc = {"name": args.name, "overrides": overrides, "seeds": seeds, "animals": animals, "control": control,
           "pooled_mcc": {"variant": [round(float(v), 4) for v in pooled_mcc_per_seed(new)],
                          "accuracy-2026-12-05.json student": [round(float(v), 4) for v in pooled_mcc_per_seed(old)]},
           "variant_minus_saved_per_animal": {"mean": round(float(per_animal.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)],
                                              "per_animal": dict(zip(animals, (round(float(v), 4) for v in per_animal)))},
           "mean_seconds_per_student": round(float(np.mean([r["seconds"] for r in results])), 1),
           "confusion": {f"{r['seed']}/{r['animal']}": r["confusion"] for r in results},
           "wall_time_s": round(time.time() - started, 1), "machine": machine()}
    print(json.dumps({k: doc[k] for k in ("control", "pooled_mcc", "variant_minus_saved_per_animal", "mean_seconds_per_student")}))
    print(f"written: {write_result(f'pilots/student-batch-{args.name}.json', doc)}")


if __name__ == "__main__":
    main()
