"""Pilot: does the data-free student gain from more teachers than the fold's ResNet?

The data-free student learned from the fold's ResNet alone (bench-data-free until 2026-12-07; this
pilot made the ResNet + GRU pair the method's default teachers). `method.teachers`
adds teachers whose averaged soft labels it learns on the generated windows (the ResNet still
trains the generator): the fold's GRU trained without KD (bench-accuracy's `student` row: a
teacher of the student's own kind) or the forest with turned copies (bench-accuracy's baseline
row), each trained on the fold's real training windows. The networks are bench-accuracy's own,
reloaded from its kept runs (bench/work/accuracy-NAME-seed-S/folds/KEY/teacher.safetensors and
student.safetensors); forests are fitted here. Every teacher is checked fold by fold against the
reference's row of it; the student still sees no real window and no label.

    python bench/pilots/data_free_teachers.py NAME SEED [SEED ...] [--animals A,B] [--jobs 2]
                                              [--teachers resnet,gru] [--set method.KEY=JSON ...]
                                              [--default RESULT.json ...] [--combine RESULT.json ...]

Reports per seed the pooled MCC of the variant, of its teachers and of the reference's distilled
student; the gap to it (bench-data-free's target: within 0.15) with a 95% bootstrap interval of
the per-animal gap; and, given bench-data-free's results of the same seeds (--default), the
difference from the ResNet-only default, pooled and per animal.
Writes bench/results/pilots/data-free-teachers-NAME-sSEEDS-TEACHERS[-SETTINGS].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (RESULTS, WORK, bootstrap_mean, fold_windows, machine, require_wasp, result_overrides,  # noqa: E402
                    worker_pool, write_result)
from data_free import VARIANTS  # noqa: E402

DEFAULT = next(iter(VARIANTS))  # bench-data-free's default variant, the one this pilot extends


def fold_job(overrides: dict, seed: int, animal: str, run: str, teachers: list[str], extra: dict) -> dict:
    from safetensors.torch import load_file
    from sklearn.metrics import confusion_matrix

    from collar_kd.config import load_config
    from collar_kd.distill.teachers import TeacherPool, TeacherSpec, build_teacher, is_forest, parse_teacher_spec
    from collar_kd.methods import StudentJob, resolve_settings, train_student
    from collar_kd.progress import Quiet
    from collar_kd.training.loop import predict_logits, seed_everything

    cfg = load_config(None, {**overrides, "seed": seed, **VARIANTS[DEFAULT], "method.teachers": teachers, **extra})
    win, test, key = fold_windows(cfg, animal)
    seed_everything(cfg.seed, cfg.threads)  # as bench-data-free's fold job: one thread, deterministic
    n, xt, yt = len(win.classes), win.x[test], win.y[test]
    labels = range(n)
    folder = WORK / f"accuracy-{run}-seed-{seed}" / "folds" / key
    pool = TeacherPool(cfg, np.zeros((0, win.length, 3), np.float32), np.zeros(0, np.int64), n, None, key)
    conf = {}
    for spec in (parse_teacher_spec(t, seed) for t in teachers):
        if is_forest(spec):  # fitted on the fold's real training windows, as bench-accuracy's forests are
            train = win.subset(~test)
            real = TeacherPool(cfg, train.x, train.y, n, None, key, animals=train.animal)
            pool.put(spec, forest := real.forest(spec))
            conf[f"teacher {spec.arch}"] = confusion_matrix(yt, forest.predict(xt), labels=labels).tolist()
    for spec, file, row in ((TeacherSpec("resnet", seed), "teacher", "teacher"), (TeacherSpec("gru", seed), "student", "gru_teacher")):
        model = build_teacher(spec, n, cfg)
        model.load_state_dict(load_file(str(folder / f"{file}.safetensors")))
        pool.put(spec, model)
        conf[row] = confusion_matrix(yt, predict_logits(model, xt).argmax(1), labels=labels).tolist()
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length}
    started = time.time()
    job = StudentJob(cfg, resolve_settings(cfg), pool.x, pool.y, n, win.length, arch, pool, None, key, Quiet())
    result = train_student(job)
    conf["data_free"] = confusion_matrix(yt, predict_logits(result.student, xt).argmax(1), labels=labels).tolist()
    return {"animal": animal, "key": key, "confusion": conf, "seconds": round(time.time() - started, 1),
            "teacher_class_share_on_generated": result.report["teacher_class_share_on_generated"],
            "teachers": result.report["teachers"]}


def resnet_alone(doc: dict, path: Path) -> str:
    """The row of a bench/data_free.py result that is the ResNet-only method: the default until
    2026-12-07 (no teachers named) or the "ResNet alone" ablation since."""
    rows = [name for name, v in doc["variants"].items() if v.get("method.teachers", ["resnet"]) == ["resnet"]]
    if len(rows) != 1:
        sys.exit(f"bench: --default {path}: needs exactly one ResNet-only variant, found {len(rows)}")
    return rows[0]


def mcc(c) -> float:
    from collar_kd.evaluation.statistics import mcc_from_confusion

    return float(mcc_from_confusion(np.asarray(c, dtype=np.float64)))


def main() -> None:
    from collar_kd.evaluation.statistics import paired_difference

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", help="the bench-accuracy variant whose kept runs hold the fold teachers")
    ap.add_argument("seeds", type=int, nargs="+")
    ap.add_argument("--animals", default="", help="comma-separated held-out animals (default: every fold)")
    ap.add_argument("--teachers", default="resnet,gru", help="method.teachers of the data-free student")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="another setting of the data-free method, e.g. method.fresh_windows=true (repeatable)")
    ap.add_argument("--default", nargs="*", type=Path, default=[],
                    help="bench/data_free.py results of these seeds (the ResNet-only default), for the paired difference")
    ap.add_argument("--combine", nargs="*", type=Path, default=[],
                    help="train nothing: combine these results of this pilot (disjoint seeds or animals, one variant) "
                         "into one, as if run together (every fold job seeds itself)")
    args = ap.parse_args()
    root = require_wasp()
    ref = json.loads((RESULTS / f"accuracy-{args.name}.json").read_text())
    overrides = result_overrides(ref["settings"], root)
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    teachers = args.teachers.split(",")
    extra = {k: json.loads(v) for k, _, v in (a.partition("=") for a in args.set)}
    variant = {**VARIANTS[DEFAULT], "method.teachers": teachers, **extra}
    started = time.time()
    if args.combine:
        parts = [json.loads(p.read_text()) for p in args.combine]
        if any(d["variant"] != variant or d["reference"] != f"accuracy-{args.name}.json" for d in parts):
            sys.exit("bench: --combine takes results of this variant (--teachers, --set) and reference only")
        done = {(int(k.split("/")[0]), k.split("/")[1]): f for d in parts for k, f in d["folds"].items()}
        if any(s not in args.seeds for s, _ in done) or len(done) != sum(len(d["folds"]) for d in parts):
            sys.exit("bench: --combine: the results overlap, or hold seeds not asked for")
        if any((s, a) not in done for s in args.seeds for a in animals):
            sys.exit("bench: --combine: the results do not cover every asked seed and animal")
        wall = sum(d["wall_time_s"] for d in parts)
    else:
        with worker_pool(args.jobs) as ex:
            futures = {(s, a): ex.submit(fold_job, overrides, s, a, args.name, teachers, extra) for s in args.seeds for a in animals}
            done = {}
            for (s, a), fut in futures.items():
                done[s, a] = r = fut.result()
                print(f"seed {s} {a}: " + ", ".join(f"{k} {mcc(c):.3f}" for k, c in r["confusion"].items())
                      + f" ({r['seconds']} s)", flush=True)
        wall = round(time.time() - started, 1)
    col = {s: ref["seeds"].index(s) for s in args.seeds}
    by_animal = {f["animal"]: f for f in ref["per_fold"]}
    identical = {f"{s}/{a}": {"teacher": done[s, a]["confusion"]["teacher"] == by_animal[a]["confusion_by_seed"]["teacher"][col[s]],
                              "gru_teacher": done[s, a]["confusion"]["gru_teacher"] == by_animal[a]["confusion_by_seed"]["student"][col[s]],
                              # the turned forest is bench-accuracy's baseline row
                              **({"teacher turned_forest": done[s, a]["confusion"]["teacher turned_forest"]
                                  == by_animal[a]["confusion_by_seed"]["baseline_rf"][col[s]]}
                                 if "teacher turned_forest" in done[s, a]["confusion"] else {})}
                 for s in args.seeds for a in animals}
    rows = ("teacher", "gru_teacher", *[k for k in done[args.seeds[0], animals[0]]["confusion"] if k.startswith("teacher ")],
            "data_free")
    pooled = {r: [mcc(np.sum([done[s, a]["confusion"][r] for a in animals], axis=0)) for s in args.seeds] for r in rows}
    pooled["student_kd (real data)"] = [mcc(np.sum([by_animal[a]["confusion_by_seed"]["student_kd"][col[s]] for a in animals], axis=0))
                                        for s in args.seeds]
    per_animal = {a: {"data_free": [mcc(done[s, a]["confusion"]["data_free"]) for s in args.seeds],
                      "student_kd": [by_animal[a]["mcc_by_seed"]["student_kd"][col[s]] for s in args.seeds]} for a in animals}
    d_kd = np.array([np.mean(np.subtract(v["data_free"], v["student_kd"])) for v in per_animal.values()])
    conf = np.array([[done[s, a]["confusion"]["data_free"] for a in animals] for s in args.seeds])
    conf_kd = np.array([[by_animal[a]["confusion_by_seed"]["student_kd"][col[s]] for a in animals] for s in args.seeds])
    paired = paired_difference(conf, conf_kd)
    gap = float(np.mean(pooled["data_free"]) - np.mean(pooled["student_kd (real data)"]))
    doc = {"reference": f"accuracy-{args.name}.json", "seeds": args.seeds, "animals": animals, "teachers": teachers,
           "variant": variant,
           "teachers_from": f"bench/work/accuracy-{args.name}-seed-S/folds/KEY/teacher.safetensors (resnet) and student.safetensors (gru)",
           "teachers_identical_to_reference": all(all(v.values()) for v in identical.values()),
           "pooled_mcc": {r: {"mean": float(np.mean(v)), "per_seed": v} for r, v in pooled.items()},
           "gap_to_kd": gap,
           "per_animal_gap_to_kd": {"mean": float(d_kd.mean()), "ci95_of_mean": list(bootstrap_mean(d_kd)),
                                    "animals_better": int((d_kd > 0).sum())},
           "paired_gap_to_kd": {k: paired[k] for k in ("difference", "ci_low", "ci_high", "animals_better", "animals_worse")},
           "target_within_0.15_of_kd": {"measured": round(gap, 4), "met": gap >= -0.15},
           "per_animal_mcc": per_animal}
    if args.default:
        base, pooled_default = {}, {}
        for path in args.default:
            d = json.loads(path.read_text())
            row = resnet_alone(d, path)
            for i, s in enumerate(d["seeds"]):
                pooled_default[s] = d["pooled_mcc"][row]["per_seed"][i]
                for a in animals:
                    base[s, a] = d["per_animal_mcc"][row][a][i]
        if all((s, a) in base for s in args.seeds for a in animals):
            diff = np.array([np.mean([per_animal[a]["data_free"][i] - base[s, a] for i, s in enumerate(args.seeds)]) for a in animals])
            doc["against_resnet_only"] = {
                "default_results": [str(p) for p in args.default],
                "pooled_mcc_default": [pooled_default[s] for s in args.seeds],
                "pooled_difference": float(np.mean(pooled["data_free"]) - np.mean([pooled_default[s] for s in args.seeds])),
                "per_animal_difference": {"mean": float(diff.mean()), "ci95_of_mean": list(bootstrap_mean(diff)),
                                          "animals_better": int((diff > 0).sum()), "animals_worse": int((diff < 0).sum())}}
    doc.update({"folds": {f"{s}/{a}": done[s, a] for s in args.seeds for a in animals}, "identical": identical,
                "wall_time_s": wall, "jobs": args.jobs, "machine": machine(),
                **({"combined_from": [str(p) for p in args.combine]} if args.combine else {})})
    suffix = "-".join(map(str, args.seeds)) + f"-{'+'.join(teachers)}" + "".join(
        f"-{k.removeprefix('method.')}-{v}" for k, v in extra.items()) + (f"-{len(animals)}cows" if args.animals else "") + (
        "-combined" if args.combine else "")
    path = write_result(f"pilots/data-free-teachers-{args.name}-s{suffix}.json", doc)
    print(f"wrote {path}")
    for r, v in doc["pooled_mcc"].items():
        print(f"  {r:28s} {v['mean']:.4f} {[round(x, 4) for x in v['per_seed']]}")
    print(f"  gap to KD {doc['gap_to_kd']:+.4f}; teachers identical to the reference's: {doc['teachers_identical_to_reference']}")
    if "against_resnet_only" in doc:
        print("  against the ResNet-only default:", json.dumps(doc["against_resnet_only"]))


if __name__ == "__main__":
    main()
