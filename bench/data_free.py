"""make bench-data-free: the data-free student against the distilled student of bench-accuracy, on
the same folds, seeds and fold teachers.

The student never sees a real window or label; the fold's teachers (trained on the fold's real
training windows: the ResNet, which also trains the generator, and the GRU without KD) are its
only link. The teachers are trained here, exactly as bench-accuracy's fold job trains them (same
settings, seed and order), so the benchmark needs no saved run; when the reference's own run kept
its fold models in bench/work (bench/accuracy.py keeps them), those very networks are taken
instead, which saves about half a fold's time. Either way, that they are the very same networks is
checked, fold by fold, against the teacher and student MCC the reference result recorded
(`teachers_identical_to_reference`, `gru_teacher_identical_to_reference_student`).
Trained teachers are kept in bench/work (git-ignored) and reloaded by the next run. The distilled
student on real data is the reference's own row (its pooled and per-animal MCC of the same
seeds): it is not trained again.

By default DAFL with its additions that are not DAFL's (a class-conditional generator, the
teacher's batch-norm statistics, the collar-physics priors, a second teacher), each a switch of
the data-free method (docs/methods.md, "data-free: DAFL"); `--variants` runs the ablations of
EXTRA_VARIANTS too.

    python bench/data_free.py [--seeds 0,1,2] [--jobs 2] [--reference bench/results/accuracy.json]
                              [--variants A;B] [--animals X,Y --name NAME]
    python bench/data_free.py --reference REF --combine RESULT RESULT ... --name NAME

Writes bench/results/data_free.json; a subset of animals, variants or seeds, or another reference,
writes bench/results/pilots/data-free-NAME.json instead; so does --combine, which joins results of
disjoint seeds (every figure is per seed) and takes the verdict again, training nothing. Each
finished student is kept in bench/work/data-free-folds: a stopped run, started again, trains only
what it had not finished (wall_time_s is then this run's; students_taken_up lists the rest, whose
own times are in generated).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import matthews_corrcoef

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import reference_run  # noqa: E402
from common import (DAFL_AS_PUBLISHED, FOLD_TEACHERS, RESULTS, WORK, bootstrap_mean, code_fingerprint,  # noqa: E402
                    fold_model, fold_windows, machine, require_wasp, result_overrides, worker_pool,
                    write_json_atomically, write_result)

# What the benchmark measures by default, the method's defaults: DAFL with a class-conditional
# generator (every behaviour is generated), the teacher's batch-norm statistics and the
# collar-physics priors, and the teacher labelling every window as the student sees it (rotated).
# Until 2026-12-05 the teacher labelled each window once, before rotation (DAFL_PLUS, cached).
DAFL_PLUS = {**DAFL_AS_PUBLISHED, "method.class_conditional": True, "method.bn_statistics_weight": 0.1,
             "method.gravity_weight": 1.0, "method.jerk_weight": 1.0}
# Since 2026-12-07 the generated windows are labelled by the fold's GRU without KD too (the
# method's default teachers, ResNet + GRU): until then the ResNet alone.
VARIANTS = {"dafl + class-conditional + batch-norm statistics + physics priors, consistent teaching, ResNet + GRU teachers": {
    **DAFL_PLUS, "method.teaching": "consistent", "method.teachers": ["resnet", "gru"]}}
# Ablations, run with --variants (each costs a data-free student per fold, about 200 s). DAFL as
# published and with the physics priors alone collapsed onto one class on every fold of the
# sensor-frame teachers (pooled MCC 0.000 both, 2026-12-02). The windows built as a collar
# measures them (method.generator_form = "gravity": 1 g of gravity plus bounded zero-mean motion)
# instead of penalised towards it scored -0.036 pooled MCC on three cows against 0.771 for the
# default variant (seed 0, bench/results/pilots/data-free-gravity3.json).
EXTRA_VARIANTS = {
    "dafl": DAFL_AS_PUBLISHED,
    "dafl + physics priors": {**DAFL_AS_PUBLISHED, "method.gravity_weight": 1.0, "method.jerk_weight": 1.0},
    "dafl + class-conditional + batch-norm statistics + gravity-built windows": {
        **DAFL_AS_PUBLISHED, "method.class_conditional": True, "method.bn_statistics_weight": 0.1, "method.generator_form": "gravity"},
    # Pilots of 2026-12-05, seed 0 (docs/methods.md, "data-free: DAFL"): on cow 1217 alone
    # (bench/results/pilots/data-free-*-1217.json), against 0.051 for the default, MCC 0.110 with
    # the generator trained five times longer, 0.295 with consistent teaching, 0.276 with 10
    # adversarial steps, 0.600 with both and 0.852 with 30; but 30 adversarial steps over six
    # cows (the run stopped there, data-free-adversarial30-partial.log) 0.340 against 0.460.
    "dafl + class-conditional + batch-norm statistics + physics priors, 1500 generator steps": {
        **DAFL_PLUS, "method.generator_steps": 1500},
    # The default until 2026-12-05 (bench/results/data_free.json of 2026-12-04: pooled MCC 0.491).
    "dafl + class-conditional + batch-norm statistics + physics priors": DAFL_PLUS,
    "dafl + class-conditional + batch-norm statistics + physics priors + adversarial x10": {
        **DAFL_PLUS, "method.adversarial_steps": 10},
    "dafl + class-conditional + batch-norm statistics + physics priors + adversarial x10, consistent teaching": {
        **DAFL_PLUS, "method.adversarial_steps": 10, "method.teaching": "consistent"},
    "dafl + class-conditional + batch-norm statistics + physics priors + adversarial": {
        **DAFL_PLUS, "method.adversarial_steps": 30},
    # Pilots of 2026-12-07 (bench/pilots/data_free_teachers.py, seed 3 of accuracy-rfgqat.json;
    # docs/methods.md, "More teachers for the data-free student"): a second labeller of the generated
    # windows, the fold's GRU trained without KD, +0.044 pooled over seeds 3-5 (-0.117 from the
    # distilled student; per cow +0.043, -0.026 to +0.118); the forest with turned copies -0.153
    # per cow over eight cows of seed 3; fresh windows every epoch +0.004 over four.
    # The GRU variant became the default; the ResNet alone, the default until then, stays an ablation.
    "dafl + class-conditional + batch-norm statistics + physics priors, consistent teaching, ResNet alone": {
        **DAFL_PLUS, "method.teaching": "consistent", "method.teachers": ["resnet"]},
    "dafl + class-conditional + batch-norm statistics + physics priors, consistent teaching, ResNet + turned forest teachers": {
        **DAFL_PLUS, "method.teaching": "consistent", "method.teachers": ["resnet", "turned_forest"]},
}
REFERENCE = RESULTS / "accuracy.json"
KD_ROW = "student_kd (real data, the reference's row)"
TEACHERS = FOLD_TEACHERS  # the fold teachers trained here, reloaded by the next run (and by pilots)
# Every data-free student's predictions, kept the moment its fold finishes: a run that is stopped
# (a fold costs 500-850 s, a seed an hour on 2 cores) is taken up by the same command again, fold
# by fold and variant by variant, as long as the code and settings are the same (kept_student).
KEPT = WORK / "data-free-folds"


def kept_student(overrides: dict, seed: int, key: str, variant: dict, code: str, windows: str) -> Path:
    """Where the data-free student of (settings, seed, fold, variant) under code `code` is kept.
    The data counts by its content (`windows`, window_digest), not its path: the same collar data
    in another place, or seen from another checkout, finds the same students."""
    settings = {k: v for k, v in overrides.items() if k != "data.path"}
    what = json.dumps({"overrides": settings, "seed": seed, "variant": variant, "code": code, "windows": windows},
                      sort_keys=True, default=str)
    return KEPT / f"seed-{seed}" / key / f"{hashlib.sha256(what.encode()).hexdigest()[:20]}.json"


def window_digest(win) -> str:
    """Every window of the data set with its label and animal (what the fold teachers learn from)."""
    from collar_kd.data.windows import hash_arrays

    h = hashlib.sha256()
    hash_arrays(h, win.x, win.y, np.asarray(win.animal, dtype=str))
    return h.hexdigest()


def fold_job(overrides: dict, seed: int, animal: str, variants: dict, code: str, saved_run: Path | None = None) -> dict:
    """One fold of one seed, in its own process: the fold's teacher as bench-accuracy's fold job
    trains it (run_fold: seeded, then the teacher first), then every data-free variant from it that
    an earlier run did not keep (each variant seeds itself: its student does not depend on which
    variants ran before it). When the reference's own run kept this fold's ResNet and student without
    KD (`saved_run`, bench/work), those are the teachers instead of training them again; either way
    they are checked against the reference's recorded MCC (judged)."""
    from collar_kd.config import load_config
    from collar_kd.distill.teachers import TeacherPool, is_forest, parse_teacher_spec
    from collar_kd.methods import StudentJob, resolve_settings, train_student
    from collar_kd.progress import Quiet
    from collar_kd.training.loop import class_weights, predict_logits, seed_everything

    cfg0 = load_config(None, {**overrides, "seed": seed})
    win, test, key = fold_windows(cfg0, animal)
    seed_everything(cfg0.seed, cfg0.threads)
    train = win.subset(~test)
    n = len(win.classes)
    pool = TeacherPool(cfg0, train.x, train.y, n, class_weights(train.y, n, cfg0.class_weighting), key, Quiet(),
                       animals=train.animal, directory=TEACHERS / f"seed-{seed}" / key)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length}
    kept_models = None if saved_run is None else saved_run / "folds" / key
    teachers_from = "trained here, or reloaded from " + str(TEACHERS)
    if kept_models is not None and all((kept_models / f"{m}.safetensors").is_file() for m in ("teacher", "student")):
        sizes = {"teacher": {"filters": cfg0.teacher.filters, "kernels": cfg0.teacher.kernels},
                 "student": {"hidden": cfg0.student.hidden, "head": cfg0.student.head}}
        pool.put(pool.main_spec, fold_model(saved_run, key, "teacher", {**arch, **sizes}))
        # the 'gru' teacher is the fold's student without KD
        pool.adopt_no_kd_student(fold_model(saved_run, key, "student", {**arch, **sizes}))
        teachers_from = str(kept_models)
    teacher = pool.get(pool.main_spec).eval()
    xt, yt = win.x[test], win.y[test]
    out = {"animal": animal, "key": key, "y": yt, "preds": {"teacher": predict_logits(teacher, xt).argmax(1)},
           "reports": {}, "taken_up": [], "teachers_from": teachers_from}
    digest = window_digest(win)
    for name, variant in variants.items():
        kept = kept_student(overrides, seed, key, variant, code, digest)
        if kept.is_file():
            doc = json.loads(kept.read_text())
            out["preds"][name] = np.asarray(doc["pred"], dtype=np.int64)
            out["reports"][name] = doc["report"]
            out["taken_up"].append(name)
            continue
        started = time.time()
        cfg = load_config(None, {**overrides, "seed": seed, "method.name": "data-free", **variant})
        # Only the teachers are handed over (trained on the real windows by the fold's own pool, kept
        # in TEACHERS); the real training windows stay out of the job.
        empty = TeacherPool(cfg, np.zeros((0, win.length, 3), np.float32), np.zeros(0, np.int64), n, None, key)
        for spec in (parse_teacher_spec(t, seed) for t in resolve_settings(cfg).teachers):
            empty.put(spec, model := pool.forest(spec) if is_forest(spec) else pool.get(spec))
            if spec != pool.main_spec and f"teacher {spec.arch}" not in out["preds"]:  # another teacher's own row
                out["preds"][f"teacher {spec.arch}"] = (model.predict(xt) if is_forest(spec)
                                                        else predict_logits(model, xt).argmax(1))
        job = StudentJob(cfg, resolve_settings(cfg), empty.x, empty.y, n, win.length, arch, empty, None, key, Quiet())
        result = train_student(job)
        out["preds"][name] = predict_logits(result.student, xt).argmax(1)
        out["reports"][name] = {"teacher_class_share_on_generated": result.report["teacher_class_share_on_generated"],
                                "generated_range_g": result.report["generated_range_g"],
                                "seconds": round(time.time() - started, 1)}
        write_json_atomically(kept, {"pred": out["preds"][name].tolist(), "report": out["reports"][name]})
    return out


def judged(ref: dict, seeds: list[int], animals: list[str], variants: list[str], pooled: dict, per_animal: dict,
           every_animal: bool) -> dict:
    """What a result says, from every row's pooled MCC per seed (`pooled`) and MCC per animal and
    seed (`per_animal`), beside the reference's rows of the same seeds: the teachers checked
    identical, the best variant against the distilled student per animal and, over every animal,
    the target."""
    col = {s: ref["seeds"].index(s) for s in seeds}
    ref_mcc = {f["animal"]: f["mcc_by_seed"] for f in ref["per_fold"]}
    identical = {a: all(abs(per_animal["teacher"][a][i] - ref_mcc[a]["teacher"][col[s]]) < 1e-9 for i, s in enumerate(seeds))
                 for a in animals}
    # A "gru" teacher is trained as bench-accuracy trains its student without KD (TeacherPool.
    # adopt_no_kd_student): the same network, so the same MCC as the reference's `student` row.
    gru_identical = ({a: all(abs(per_animal["teacher gru"][a][i] - ref_mcc[a]["student"][col[s]]) < 1e-9
                             for i, s in enumerate(seeds)) for a in animals} if "teacher gru" in per_animal else None)
    kd_pooled = [ref["pooled_mcc"]["student_kd"]["per_seed"][col[s]] for s in seeds] if every_animal else None
    best = max(variants, key=lambda v: np.mean(pooled[v]))
    d = np.array([np.mean([per_animal[best][a][i] - ref_mcc[a]["student_kd"][col[s]] for i, s in enumerate(seeds)])
                  for a in animals])
    lo, hi = bootstrap_mean(d)
    out = {
        "teachers_identical_to_reference": all(identical.values()),
        "teachers_identical_per_animal": identical,
        **({"gru_teacher_identical_to_reference_student": all(gru_identical.values())} if gru_identical else {}),
        "pooled_mcc": {**{m: {"mean": float(np.mean(v)), "per_seed": v} for m, v in pooled.items()},
                       **({KD_ROW: {"mean": float(np.mean(kd_pooled)), "per_seed": kd_pooled}} if kd_pooled else {})},
        "per_animal_mcc": per_animal,
        "best_variant": best,
        "best_minus_kd_per_animal": {"mean": round(float(d.mean()), 4), "ci95_of_mean": [round(lo, 4), round(hi, 4)],
                                     "animals_better": int((d > 0).sum()), "animals_worse": int((d < 0).sum()),
                                     "how": "per animal, mean over seeds of (data-free MCC - the reference's student_kd MCC); "
                                            "percentile bootstrap over animals, 10,000 draws"},
    }
    if kd_pooled:
        gap = float(np.mean(pooled[best]) - np.mean(kd_pooled))
        out["targets"] = {"data_free_within_0.15_of_kd": {"target": ">= KD (real data) - 0.15 (pooled MCC, mean over seeds)",
                                                          "variant": best, "measured": round(gap, 4), "met": gap >= -0.15}}
    return out


def combine(paths: list[Path], reference: Path) -> dict:
    """Results of disjoint seeds of one reference, with the same animals and variants, as one:
    every figure is per seed, so the seeds are joined and the verdict taken again."""
    docs = [json.loads(p.read_text()) for p in paths]
    first = docs[0]
    for p, doc in zip(paths[1:], docs[1:]):
        for key in ("reference", "animals", "variants"):
            if doc[key] != first[key]:
                sys.exit(f"bench: --combine: {p} has other {key} than {paths[0]}")
    if first["reference"] != reference.name:
        sys.exit(f"bench: --combine: the results are against {first['reference']}, not {reference.name} (--reference)")
    seeds = [s for doc in docs for s in doc["seeds"]]
    if len(set(seeds)) != len(seeds):
        sys.exit(f"bench: --combine: the results share seeds ({seeds})")
    rows = [m for m in first["per_animal_mcc"] if all(m in doc["per_animal_mcc"] for doc in docs)]
    pooled = {m: [v for doc in docs for v in doc["pooled_mcc"][m]["per_seed"]] for m in rows}
    per_animal = {m: {a: [v for doc in docs for v in doc["per_animal_mcc"][m][a]] for a in first["animals"]} for m in rows}
    ref = json.loads(reference.read_text())
    every_animal = first["animals"] == [f["animal"] for f in ref["per_fold"]]
    return {"dataset": first["dataset"], "reference": first["reference"], "seeds": seeds, "animals": first["animals"],
            "combined_from": [p.name for p in paths], "variants": first["variants"],
            **judged(ref, seeds, first["animals"], list(first["variants"]), pooled, per_animal, every_animal)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="", help="comma-separated seeds of the reference (default: all of its seeds)")
    ap.add_argument("--jobs", type=int, default=2, help="folds trained side by side, one process each (default 2)")
    ap.add_argument("--reference", type=Path, default=REFERENCE, help="a bench/accuracy.py result (its settings and rows)")
    ap.add_argument("--variants", default="", help="';'-separated subset of: " + "; ".join({**VARIANTS, **EXTRA_VARIANTS}))
    ap.add_argument("--animals", default="", help="comma-separated held-out animals (default: every fold)")
    ap.add_argument("--name", default="", help="names the pilot result when a subset or another reference is run")
    ap.add_argument("--combine", nargs="+", type=Path, default=[], metavar="RESULT",
                    help="join results of disjoint seeds (same --reference, animals and variants) into pilots/data-free-NAME.json; "
                         "nothing is trained")
    args = ap.parse_args()
    if args.combine:
        if not args.name:
            sys.exit("bench: --combine writes a pilot result: give it --name")
        if missing := [str(p) for p in [*args.combine, args.reference] if not p.is_file()]:
            sys.exit(f"bench: --combine: {', '.join(missing)} not found")
        show(write_result(f"pilots/data-free-{args.name}.json", doc := combine(args.combine, args.reference)), doc)
        return
    known = {**VARIANTS, **EXTRA_VARIANTS}
    asked = [v for v in args.variants.split(";") if v]
    if any(v not in known for v in asked):
        sys.exit(f"bench: unknown variant in --variants (known: {'; '.join(known)})")
    variants = {v: known[v] for v in asked} if asked else VARIANTS
    root = require_wasp()
    if not args.reference.is_file():
        sys.exit(f"bench: {args.reference} not found: the reference is a bench/accuracy.py result")
    ref = json.loads(args.reference.read_text())
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(ref["seeds"])
    if any(s not in ref["seeds"] for s in seeds):
        sys.exit(f"bench: --seeds {args.seeds}: {args.reference.name} has seeds {ref['seeds']}")
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    pilot = bool(asked or args.animals or seeds != ref["seeds"] or args.reference.resolve() != REFERENCE.resolve())
    if pilot and not args.name:
        sys.exit("bench: a subset (of variants, animals or seeds) or another reference writes a pilot result: give it --name")
    overrides = result_overrides(ref["settings"], root)
    started = time.time()
    code = code_fingerprint()
    with worker_pool(args.jobs) as ex:
        futures = {(s, a): ex.submit(fold_job, overrides, s, a, variants, code, reference_run(args.reference, s))
                   for s in seeds for a in animals}
        done = {}
        for (s, a), fut in futures.items():
            done[s, a] = r = fut.result()
            print(f"seed {s} fold {a}: " + ", ".join(f"{k} {matthews_corrcoef(r['y'], p):.3f}" for k, p in r["preds"].items())
                  + (f" (taken up from {KEPT}: {'; '.join(r['taken_up'])})" if r["taken_up"] else ""), flush=True)
    extra = [k for k in done[seeds[0], animals[0]]["preds"] if k.startswith("teacher ")
             and all(k in r["preds"] for r in done.values())]  # the variants' other teachers, e.g. "teacher gru"
    rows = ["teacher", *extra, *variants]
    y = {s: np.concatenate([done[s, a]["y"] for a in animals]) for s in seeds}
    pooled = {m: [float(matthews_corrcoef(y[s], np.concatenate([done[s, a]["preds"][m] for a in animals]))) for s in seeds]
              for m in rows}
    per_animal = {m: {a: [float(matthews_corrcoef(done[s, a]["y"], done[s, a]["preds"][m])) for s in seeds] for a in animals}
                  for m in rows}
    doc = {
        "dataset": str(root), "reference": args.reference.name,
        "seeds": seeds, "animals": animals,
        "teachers": "each fold's ResNet (and the other teachers a variant names: a GRU is the student without KD), "
                    "trained here exactly as bench-accuracy's fold job trains them, or the very ones the reference's "
                    "run kept in bench/work (teachers_from)",
        "teachers_from": {f"{s}/{a}": done[s, a]["teachers_from"] for s in seeds for a in animals},
        "variants": variants,
        **judged(ref, seeds, animals, list(variants), pooled, per_animal, every_animal=not args.animals),
        "generated": {m: {f"{s}/{a}": done[s, a]["reports"][m] for s in seeds for a in animals} for m in variants},
        "wall_time_s": round(time.time() - started, 1), "jobs": args.jobs, "machine": machine(),
        "students_taken_up": {f"{s}/{a}": done[s, a]["taken_up"] for s in seeds for a in animals if done[s, a]["taken_up"]},
    }
    show(write_result(f"pilots/data-free-{args.name}.json" if pilot else "data_free.json", doc), doc)


def show(path: Path, doc: dict) -> None:
    print(f"wrote {path}")
    for m, v in doc["pooled_mcc"].items():
        print(f"  {m:70s} pooled MCC {v['mean']:.4f} {[round(x, 4) for x in v['per_seed']]}")
    print("  teachers identical to the reference's:", doc["teachers_identical_to_reference"])
    if "targets" in doc:
        t = doc["targets"]["data_free_within_0.15_of_kd"]
        print(f"  data-free minus distilled student: {t['measured']:+.4f} (target -0.15: {'met' if t['met'] else 'missed'})")


if __name__ == "__main__":
    main()
