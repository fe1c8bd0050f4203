"""Pilot: who should label the held-out cow's windows for the transductive student?

    python bench/pilots/transductive_labels.py SEEDS [--jobs 2] [--fine-tune 'JSON overrides' ...] [--forest-copies K]

The transductive row fine-tunes the strict distilled student on the held-out animal's windows
(without their labels) as labelled by the teachers. With the transfer set the strict student is
better than its teachers on new cows, so that pulls it back towards them. Here, per fold of
bench-accuracy's committed run (bench/work/accuracy-run*, its strict students reloaded and checked
against bench/results/accuracy-2026-12-05.json, or --reference), the would-be labellers are judged on the held-out cow:
the teachers' mean, the strict student, and the teachers and the student together (with
--forest-copies K, also the forest trained on K turned copies, alone and with the student). With
--fine-tune, the transductive student is trained again with each set of overrides (e.g.
'{"transductive_labels": "with_student"}') and judged beside the strict one.
Writes bench/results/pilots/transductive-labels.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import run_dir  # noqa: E402
from saved_folds import fold_model  # noqa: E402
from common import (FOLD_TEACHERS, RESULTS, bootstrap_mean, fold_split, machine, require_wasp,  # noqa: E402
                    result_overrides, worker_pool, write_result)


def fold_job(overrides: dict, variants: list[dict], seed: int, animal: str, forest_copies: int = 0) -> dict:
    from scipy.special import softmax
    from sklearn.metrics import confusion_matrix

    from collar_kd.config import load_config
    from collar_kd.distill.teachers import TeacherPool, parse_teacher_spec
    from collar_kd.methods import StudentJob, resolve_settings, train_student
    from collar_kd.pipeline.train_run import transductive_specs
    from collar_kd.progress import Quiet
    from collar_kd.training.loop import class_weights, predict_logits, seed_everything

    started = time.time()
    cfg = load_config(None, {**overrides, "seed": seed})
    fold = fold_split(cfg, animal)
    key, train, xt, yt, n, labels, arch = fold.key, fold.train, fold.xt, fold.yt, fold.n_classes, fold.labels, fold.arch
    seed_everything(cfg.seed, cfg.threads)
    w = class_weights(train.y, n, cfg.class_weighting)
    pool = TeacherPool(cfg, train.x, train.y, n, w, key, Quiet(), animals=train.animal,
                       directory=FOLD_TEACHERS / f"seed-{seed}" / key)
    strict = fold_model(run_dir(seed), key, "student_kd", {**arch, "student": {"hidden": cfg.student.hidden,
                                                                            "head": cfg.student.head}})
    if (run_dir(seed) / "folds" / key / "teacher.safetensors").is_file():  # the run's ResNet, not trained again
        pool.put(pool.main_spec, fold_model(run_dir(seed), key, "teacher", {
            **arch, "teacher": {"filters": cfg.teacher.filters, "kernels": cfg.teacher.kernels}}))
    specs = [parse_teacher_spec(s, seed) for s in cfg.method.options["teachers"]]
    teachers = pool.combined(specs).predict_proba(xt)
    student = softmax(predict_logits(strict, xt).astype(np.float64), axis=1)
    members = [m.predict_proba(xt) if hasattr(m, "predict_proba") else
               softmax(predict_logits(m, xt).astype(np.float64), axis=1) for m in pool.combined(specs).members]
    preds = {"student_kd": student.argmax(1), "kd_teacher": teachers.argmax(1),
             "teachers_and_student_halves": (teachers + student).argmax(1),
             "teachers_and_student_members": np.mean(members + [student], axis=0).argmax(1)}
    if forest_copies:  # the teacher turned_forest (the forest trained on turned copies too), as a labeller
        tcfg = load_config(None, {**overrides, "seed": seed, "turned_forest_copies": forest_copies})
        turned = TeacherPool(tcfg, train.x, train.y, n, w, key).forest(parse_teacher_spec("turned_forest", seed)).predict_proba(xt)
        preds |= {"turned_forest": turned.argmax(1), "turned_forest_and_student_halves": (turned + student).argmax(1),
                  "resnet_turned_forest_and_student": np.mean([members[0], turned, student], axis=0).argmax(1)}
    agree = preds["student_kd"] == preds["kd_teacher"]
    out = {"animal": animal, "key": key, "confusion": {m: confusion_matrix(yt, p, labels=labels).tolist() for m, p in preds.items()},
           "agreement": round(float(agree.mean()), 4),
           "accuracy_where_agreeing": round(float((preds["student_kd"][agree] == yt[agree]).mean()), 4) if agree.any() else None}
    for i, variant in enumerate(variants):
        vcfg = load_config(None, {**overrides, "seed": seed, **variant})
        seed_everything(vcfg.seed, vcfg.threads)
        job = StudentJob(vcfg, resolve_settings(vcfg), train.x, train.y, n, train.length, arch, pool, w, key, Quiet(),
                         unlabelled_x=xt, start_from=strict, epochs=vcfg.transductive_epochs,
                         lr=vcfg.student.lr * vcfg.transductive_lr_scale)
        job.unlabelled_labeller = strict if vcfg.transductive_labels != "teachers" else None
        job.unlabelled_teachers = transductive_specs(vcfg) or None  # as train_all sets them
        job.unlabelled_only = vcfg.transductive_windows == "unlabelled"
        result = train_student(job).student.eval()
        out["confusion"][f"variant_{i}"] = confusion_matrix(yt, predict_logits(result, xt).argmax(1), labels=labels).tolist()
    out["seconds"] = round(time.time() - started, 1)
    return out


def main() -> None:
    from collar_kd.evaluation.statistics import mcc_from_confusion

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seeds")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--animals", default="")
    ap.add_argument("--fine-tune", action="append", default=[], help="JSON overrides of one transductive variant")
    ap.add_argument("--name", default="transductive-labels")
    ap.add_argument("--reference", default="accuracy-2026-12-05.json",
                    help="the bench/results file whose run (bench/work/accuracy-run*) the strict students come from")
    ap.add_argument("--forest-copies", type=int, default=0,
                    help="also judge the forest trained on this many turned copies (rf_turned_copies) as a labeller")
    args = ap.parse_args()
    root = require_wasp()
    ref = json.loads((RESULTS / args.reference).read_text())
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [json.loads(v) for v in args.fine_tune]
    overrides = result_overrides(ref["settings"], root, keep_method=True)
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    col = {s: ref["seeds"].index(s) for s in ref["seeds"]}
    ref_fold = {f["animal"]: f for f in ref["per_fold"]}
    started = time.time()
    done = {}
    with worker_pool(args.jobs) as ex:
        futures = {(s, a): ex.submit(fold_job, overrides, variants, s, a, args.forest_copies) for s in seeds for a in animals}
        for (s, a), fut in futures.items():
            done[s, a] = r = fut.result()
            mcc = {m: round(float(mcc_from_confusion(np.array(c))), 4) for m, c in r["confusion"].items()}
            # The reloaded strict student and the rebuilt teachers must be the committed run's.
            for m in ("student_kd", "kd_teacher"):
                if r["confusion"][m] != ref_fold[a]["confusion_by_seed"][m][col[s]]:
                    sys.exit(f"seed {s} {a}: {m} differs from bench/results/{args.reference}")
            print(f"seed {s} {a}: {mcc} agree {r['agreement']} (acc {r['accuracy_where_agreeing']}) "
                  f"transductive {ref_fold[a]['mcc_by_seed']['student_kd_transductive'][col[s]]:.4f} {r['seconds']}s",
                  flush=True)
    rows = list(done[seeds[0], animals[0]]["confusion"])
    pooled = {m: [float(mcc_from_confusion(np.sum([done[s, a]["confusion"][m] for a in animals], axis=0))) for s in seeds]
              for m in rows}
    pooled["reference_transductive"] = [float(mcc_from_confusion(np.sum(
        [ref_fold[a]["confusion_by_seed"]["student_kd_transductive"][col[s]] for a in animals], axis=0))) for s in seeds]
    doc = {"variants": variants, "seeds": seeds, "animals": animals,
           "pooled_mcc": {m: {"per_seed": [round(v, 4) for v in vs], "mean": round(float(np.mean(vs)), 4)} for m, vs in pooled.items()}}
    per_animal = {m: np.array([np.mean([float(mcc_from_confusion(np.array(done[s, a]["confusion"][m]))) for s in seeds])
                               for a in animals]) for m in rows}
    for m in rows:
        if m == "student_kd":
            continue
        d = per_animal[m] - per_animal["student_kd"]
        lo, hi = bootstrap_mean(d)
        doc[f"{m} minus strict student_kd, per animal"] = {"mean": round(float(d.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)],
                                                            "per_animal": {a: round(float(v), 4) for a, v in zip(animals, d)}}
    doc["agreement"] = {f"{s}/{a}": [done[s, a]["agreement"], done[s, a]["accuracy_where_agreeing"]] for s, a in sorted(done)}
    doc["confusion"] = {f"{s}/{a}": done[s, a]["confusion"] for s, a in sorted(done)}
    doc["wall_time_s"] = round(time.time() - started, 1)
    doc["machine"] = machine()
    path = write_result(f"pilots/{args.name}.json", doc)
    print(json.dumps({k: v for k, v in doc.items() if k not in ("confusion", "agreement")}, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
