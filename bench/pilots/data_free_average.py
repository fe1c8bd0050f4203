"""Pilot: does averaging the data-free student's weights over its last epochs help on real cows?

One training run per fold gives every arm: the data-free student of bench-data-free's default
(ResNet + GRU teachers from bench-accuracy's kept runs, as bench/pilots/data_free_teachers.py
loads them) is trained once, its weights kept at the end of each of its last epochs, and judged
on the held-out cow as trained (the last epoch: bench-data-free's own student, checked equal to
the --default result's row fold by fold) and as the mean of its last K epochs' weights, for every
K asked (collar_kd/training/averaging.py). The arms share generator, windows and trajectory, so
their difference is the averaging alone.

    python bench/pilots/data_free_average.py NAME SEED [SEED ...] --default RESULT.json
                                             [--average 10,20,30] [--animals A,B] [--jobs 2]
    python bench/pilots/data_free_average.py NAME SEED [SEED ...] --default RESULT.json --combine PART.json ...

Writes bench/results/pilots/data-free-average-NAME-sSEEDS.json: pooled MCC per seed and arm, each
averaged arm minus the last epoch (pooled, and per cow with a 95% bootstrap interval), and the
gap of every arm to bench-accuracy's distilled student (bench-data-free's target: within 0.15).
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

from common import RESULTS, bootstrap_mean, fold_windows, machine, require_wasp, result_overrides, worker_pool, write_result  # noqa: E402
from data_free_teachers import fold_job as teachers_fold_job, mcc  # noqa: E402

LAST = "data_free"  # the arm bench-data-free measures: the weights of the last epoch


def fold_job(overrides: dict, seed: int, animal: str, run: str, averages: list[int]) -> dict:
    """bench/pilots/data_free_teachers.py's fold job with ResNet + GRU teachers, the student's last
    max(averages) end-of-epoch weights kept on the way (collar_kd.methods.data_free.fit wrapped)."""
    import copy

    from sklearn.metrics import confusion_matrix

    import collar_kd.methods.data_free as data_free
    from collar_kd.config import load_config
    from collar_kd.training.averaging import LastEpochsAverage, averaged_state
    from collar_kd.training.loop import predict_logits

    kept: dict = {}
    fit = data_free.fit

    def recording_fit(model, x, y, loss_fn, epochs, *args, on_epoch=None, **kwargs):
        kept["hook"] = LastEpochsAverage(model, max(averages), epochs, then=on_epoch)
        kept["model"] = model
        return fit(model, x, y, loss_fn, epochs, *args, on_epoch=kept["hook"], **kwargs)

    data_free.fit = recording_fit
    try:
        # averaging off in the method: the arms are taken here, from the one trajectory
        out = teachers_fold_job(overrides, seed, animal, run, ["resnet", "gru"], {"method.average_epochs": 0})
    finally:
        data_free.fit = fit
    cfg = load_config(None, {**overrides, "seed": seed})
    win, test, _ = fold_windows(cfg, animal)
    states, student = kept["hook"].states, kept["model"]
    for k in averages:
        twin = copy.deepcopy(student)
        twin.load_state_dict(averaged_state(states[-k:]))
        out["confusion"][f"average {k}"] = confusion_matrix(win.y[test], predict_logits(twin, win.x[test]).argmax(1),
                                                            labels=range(len(win.classes))).tolist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", help="the bench-accuracy variant whose kept runs hold the fold teachers")
    ap.add_argument("seeds", type=int, nargs="+")
    ap.add_argument("--default", type=Path, required=True,
                    help="bench/data_free.py's result of these seeds with its default variant (the last-epoch check)")
    ap.add_argument("--average", default="10,20,30", help="comma-separated numbers of last epochs averaged")
    ap.add_argument("--animals", default="", help="comma-separated held-out animals (default: every fold)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--combine", nargs="*", type=Path, default=[], help="train nothing: join results of this pilot of disjoint seeds")
    args = ap.parse_args()
    root = require_wasp()
    ref = json.loads((RESULTS / f"accuracy-{args.name}.json").read_text())
    default = json.loads(args.default.read_text())
    row = next(iter(default["variants"]))  # bench-data-free's default variant, its first
    if default["variants"][row].get("method.teachers") != ["resnet", "gru"]:
        sys.exit(f"bench: --default {args.default}: its first variant is not the ResNet + GRU default")
    overrides = result_overrides(ref["settings"], root)
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    averages = sorted({int(k) for k in args.average.split(",")})
    if any(k < 2 or k > ref["settings"]["student"]["epochs"] for k in averages):
        sys.exit(f"bench: --average {args.average}: each between 2 and the student's {ref['settings']['student']['epochs']} epochs")
    started = time.time()
    if args.combine:
        parts = [json.loads(p.read_text()) for p in args.combine]
        done = {(int(k.split("/")[0]), k.split("/")[1]): f for d in parts for k, f in d["folds"].items()}
        if any(d["averages"] != averages or d["reference"] != f"accuracy-{args.name}.json" for d in parts):
            sys.exit("bench: --combine takes results of this reference and --average only")
        if len(done) != sum(len(d["folds"]) for d in parts) or any((s, a) not in done for s in args.seeds for a in animals):
            sys.exit("bench: --combine: the results overlap, or do not cover every asked seed and animal")
        wall = sum(d["wall_time_s"] for d in parts)
    else:
        with worker_pool(args.jobs) as ex:
            futures = {(s, a): ex.submit(fold_job, overrides, s, a, args.name, averages) for s in args.seeds for a in animals}
            done = {}
            for (s, a), fut in futures.items():
                done[s, a] = r = fut.result()
                print(f"seed {s} {a}: " + ", ".join(f"{k} {mcc(c):.3f}" for k, c in r["confusion"].items())
                      + f" ({r['seconds']} s)", flush=True)
        wall = round(time.time() - started, 1)
    arms = [LAST, *[f"average {k}" for k in averages]]
    col = {s: ref["seeds"].index(s) for s in args.seeds}
    by_animal = {f["animal"]: f for f in ref["per_fold"]}
    # The last-epoch arm is bench-data-free's student: the same MCC on every fold, or this is not the same run.
    dcol = {s: default["seeds"].index(s) for s in args.seeds if s in default["seeds"]}
    same_as_default = {f"{s}/{a}": abs(mcc(done[s, a]["confusion"][LAST]) - default["per_animal_mcc"][row][a][dcol[s]]) < 1e-12
                       for s in args.seeds for a in animals if s in dcol}
    pooled = {r: [mcc(np.sum([done[s, a]["confusion"][r] for a in animals], axis=0)) for s in args.seeds] for r in arms}
    kd = [mcc(np.sum([by_animal[a]["confusion_by_seed"]["student_kd"][col[s]] for a in animals], axis=0)) for s in args.seeds]
    per_animal = {r: {a: [mcc(done[s, a]["confusion"][r]) for s in args.seeds] for a in animals} for r in arms}
    against_last = {r: arm_difference(pooled, per_animal, r, LAST) for r in arms[1:]}
    doc = {"reference": f"accuracy-{args.name}.json", "default": str(args.default), "seeds": args.seeds, "animals": animals,
           "averages": averages,
           "last_epoch_same_as_default": all(same_as_default.values()) if same_as_default else None,
           "folds_checked_against_default": len(same_as_default),
           "pooled_mcc": {**{r: {"mean": float(np.mean(v)), "per_seed": v} for r, v in pooled.items()},
                          "student_kd (real data)": {"mean": float(np.mean(kd)), "per_seed": kd}},
           "gap_to_kd": {r: float(np.mean(pooled[r]) - np.mean(kd)) for r in arms},
           "against_last_epoch": against_last, "per_animal_mcc": per_animal,
           "folds": {f"{s}/{a}": done[s, a] for s in args.seeds for a in animals},
           "wall_time_s": wall, "jobs": args.jobs, "machine": machine(),
           **({"combined_from": [str(p) for p in args.combine]} if args.combine else {})}
    suffix = "-".join(map(str, args.seeds)) + (f"-{len(animals)}cows" if args.animals else "")
    path = write_result(f"pilots/data-free-average-{args.name}-s{suffix}.json", doc)
    print(f"wrote {path}; last epoch same as {args.default.name} on {sum(same_as_default.values())} of {len(same_as_default)} folds")
    for r, v in doc["pooled_mcc"].items():
        print(f"  {r:24s} {v['mean']:.4f} {[round(x, 4) for x in v['per_seed']]}")
    for r, v in against_last.items():
        print(f"  {r} minus the last epoch: {said(v)}")


def arm_difference(pooled: dict, per_animal: dict, arm: str, other: str) -> dict:
    """`arm` minus `other` (rows of pooled MCC per seed, and of MCC per animal and seed): pooled, per
    seed and on the mean, and per animal (mean over seeds) with a 95% bootstrap interval over animals."""
    d = np.array([np.mean(np.subtract(per_animal[arm][a], per_animal[other][a])) for a in per_animal[arm]])
    return {"pooled_per_seed": [p - q for p, q in zip(pooled[arm], pooled[other])],
            "pooled_mean": float(np.mean(pooled[arm]) - np.mean(pooled[other])),
            "per_animal_mean": float(d.mean()), "ci95_of_mean": list(bootstrap_mean(d)),
            "animals_better": int((d > 0).sum()), "animals_worse": int((d < 0).sum())}


def said(v: dict) -> str:
    return (f"pooled {v['pooled_mean']:+.4f}, per cow {v['per_animal_mean']:+.4f} "
            f"({v['ci95_of_mean'][0]:+.4f} to {v['ci95_of_mean'][1]:+.4f}), {v['animals_better']} / {v['animals_worse']}")


if __name__ == "__main__":
    main()
