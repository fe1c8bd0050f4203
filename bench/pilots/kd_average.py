"""Pilot: does averaging the distilled student's weights over its last epochs help on new cows?

As bench/pilots/data_free_average.py asks of the data-free student, for the collar recipe's
distilled student: every fold's student is trained once, as bench/pilots/kd_variants.py trains it
(the reference run's teachers and student without KD, checked against its confusion matrices),
its float weights kept at the end of each of its last epochs. Arms: the student as trained
(checked equal to the reference's distilled student), and the mean of its last K epochs' weights
for every K asked, each then through the recipe's quantization-aware finish (kd.qat_epochs) and
judged in float and in 8 bits (bit-exact simulator), as kd_variants judges its students. One
trajectory, so the difference between arms is the averaging alone.

    python bench/pilots/kd_average.py SEED [SEED ...] [--reference bench/results/accuracy-rfgqat.json]
                                      [--average 10,20,30] [--animals A,B] [--jobs 2]

Writes bench/results/pilots/kd-average-sSEEDS.json: pooled MCC per seed and arm; every averaged arm
minus the student as trained, minus the reference's student without KD and minus its baseline
forest, per cow (95% bootstrap over animals) and pooled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, fold_split, machine, require_wasp, result_overrides, worker_pool, write_result  # noqa: E402
from data_free_average import arm_difference, said  # noqa: E402
from kd_variants import fold_job as kd_fold_job  # noqa: E402

TRAINED = "student_kd"


def fold_job(overrides: dict, seed: int, animal: str, reference: Path, averages: list[int]) -> dict:
    from sklearn.metrics import confusion_matrix

    import collar_kd.methods.ensemble as ensemble
    import collar_kd.methods.plain as plain
    from collar_kd.config import load_config
    from collar_kd.methods.base import copy_student
    from collar_kd.quant.quantizer import quantize_student
    from collar_kd.sim import FixedPointSimulator
    from collar_kd.training.averaging import LastEpochsAverage, averaged_state
    from collar_kd.training.loop import predict_logits

    kept: dict = {}
    fit, finish = plain.fit, plain.quantization_aware_finish

    def recording_fit(model, x, y, loss_fn, epochs, *args, on_epoch=None, **kwargs):
        if "hook" not in kept:  # the distillation itself (the finish trains through quant.qat's own fit)
            kept["hook"], kept["model"] = LastEpochsAverage(model, max(averages), epochs, then=on_epoch), model
            on_epoch = kept["hook"]
        return fit(model, x, y, loss_fn, epochs, *args, on_epoch=on_epoch, **kwargs)

    def recording_finish(job, student):
        kept["job"] = job
        return finish(job, student)

    plain.fit, plain.quantization_aware_finish, ensemble.quantization_aware_finish = recording_fit, recording_finish, recording_finish
    try:
        out = kd_fold_job(overrides, {}, seed, animal, False, reference)
    finally:
        plain.fit, plain.quantization_aware_finish, ensemble.quantization_aware_finish = fit, finish, finish
    cfg = load_config(None, {**overrides, "seed": seed})
    fold = fold_split(cfg, animal)
    arch = {**fold.arch, "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
    states, job = kept["hook"].states, kept["job"]
    for k in averages:
        twin = copy_student(kept["model"])
        twin.load_state_dict(averaged_state(states[-k:]))
        tuned, _ = finish(job, twin)
        tuned.eval()
        q = quantize_student(tuned, fold.train.x, arch, **cfg.method.quantizer_args())
        for tag, pred in ((f"average {k}", predict_logits(tuned, fold.xt).argmax(1)),
                          (f"average {k} fxp8", FixedPointSimulator(q).run(q.quantize_input(fold.xt)).classes)):
            out["confusion"][tag] = confusion_matrix(fold.yt, pred, labels=fold.labels).tolist()
    return out


def main() -> None:
    from collar_kd.evaluation.statistics import mcc_from_confusion

    def mcc(c) -> float:
        return float(mcc_from_confusion(np.asarray(c, dtype=np.float64)))

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seeds", type=int, nargs="+")
    ap.add_argument("--reference", type=Path, default=RESULTS / "accuracy-rfgqat.json")
    ap.add_argument("--average", default="10,20,30", help="comma-separated numbers of last epochs averaged")
    ap.add_argument("--animals", default="")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    root = require_wasp()
    ref = json.loads(args.reference.read_text())
    overrides = result_overrides(ref["settings"], root, keep_method=True)
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    averages = sorted({int(k) for k in args.average.split(",")})
    if any(k < 2 or k > ref["settings"]["student"]["epochs"] for k in averages):
        sys.exit(f"bench: --average {args.average}: each between 2 and the student's {ref['settings']['student']['epochs']} epochs")
    started = time.time()
    with worker_pool(args.jobs) as ex:
        futures = {(s, a): ex.submit(fold_job, overrides, s, a, args.reference.resolve(), averages) for s in args.seeds for a in animals}
        done = {}
        for (s, a), fut in futures.items():
            done[s, a] = r = fut.result()
            print(f"seed {s} {a}: " + ", ".join(f"{k} {mcc(c):.3f}" for k, c in r["confusion"].items()) + f" ({r['seconds']} s)",
                  flush=True)
    col = {s: ref["seeds"].index(s) for s in args.seeds}
    by_animal = {f["animal"]: f for f in ref["per_fold"]}
    same = {f"{s}/{a}": done[s, a]["confusion"][TRAINED] == by_animal[a]["confusion_by_seed"]["student_kd"][col[s]]
            for s in args.seeds for a in animals}
    arms = [TRAINED, "student_kd_fxp8", *[f"average {k}{t}" for k in averages for t in ("", " fxp8")]]
    rows = {**{r: {(s, a): done[s, a]["confusion"][r] for s in args.seeds for a in animals} for r in arms},
            **{f"reference {m}": {(s, a): by_animal[a]["confusion_by_seed"][m][col[s]] for s in args.seeds for a in animals}
               for m in ("student", "baseline_rf")}}
    pooled = {r: [mcc(np.sum([c[s, a] for a in animals], axis=0)) for s in args.seeds] for r, c in rows.items()}
    per_animal = {r: {a: [mcc(c[s, a]) for s in args.seeds] for a in animals} for r, c in rows.items()}
    paired = {f"{r} minus {other}": arm_difference(pooled, per_animal, r, other) for r in arms[2:]
              for other in (TRAINED if "fxp8" not in r else "student_kd_fxp8", "reference student", "reference baseline_rf")}
    doc = {"reference": args.reference.name, "seeds": args.seeds, "animals": animals, "averages": averages,
           "trained_student_same_as_reference": all(same.values()),
           "pooled_mcc": {r: {"mean": float(np.mean(v)), "per_seed": v} for r, v in pooled.items()},
           "paired": paired, "per_animal_mcc": per_animal,
           "folds": {f"{s}/{a}": done[s, a] for s in args.seeds for a in animals},
           "wall_time_s": round(time.time() - started, 1), "jobs": args.jobs, "machine": machine()}
    suffix = "-".join(map(str, args.seeds)) + (f"-{len(animals)}cows" if args.animals else "")
    path = write_result(f"pilots/kd-average-s{suffix}.json", doc)
    print(f"wrote {path}; the student as trained is the reference's on {sum(same.values())} of {len(same)} folds")
    for r, v in doc["pooled_mcc"].items():
        print(f"  {r:26s} {v['mean']:.4f} {[round(x, 4) for x in v['per_seed']]}")
    for r, v in paired.items():
        print(f"  {r}: {said(v)}")


if __name__ == "__main__":
    main()
