"""Pilot: the distilled student with one change, on bench-accuracy's folds and seeds, when the
reference runs are not on this machine (bench/work is not committed).

    python bench/pilots/kd_variants.py NAME SEEDS 'JSON overrides' [--animals A,B] [--jobs 2]
                                       [--reference bench/results/accuracy.json] [--control] [--keep]
    python bench/pilots/kd_variants.py merge NAME PART [PART ...]
    python bench/pilots/kd_variants.py summary NAME

Every fold's teachers are trained as bench-accuracy's fold job trains them: the ResNet is the
reference run's own (bench/work/accuracy-run* for accuracy.json, accuracy-NAME-seed-S for
--reference accuracy-NAME.json), checked against its recorded confusion matrix, or else reloaded
from bench/work/fold-teachers when bench/data_free.py or an earlier pilot trained it, or trained;
that they are the reference's very teachers is checked against its recorded teacher MCC; a 'gru'
teacher is the reference run's student without KD, reloaded from that run and checked against
its recorded confusion matrix (a fold without it trains one). Then the distilled
student with the reference's settings plus the overrides, and its 8-bit form (the method's
quantizer settings, formats from the fold's training windows, the bit-exact simulator), as
bench-accuracy computes it.
`--control` trains the student without the overrides as well, which must reproduce the
reference's distilled student exactly. `--keep` saves every fold's distilled student (the
variant's) in bench/work/kd-NAME/seed-S/FOLD/, for bench/pilots/quant_gap.py.

Against the reference's rows of the same seeds and animals: the variant's per-animal MCC minus
the reference's distilled student and minus its student without KD, and the variant's 8-bit
student minus the reference's (when the reference recorded its 8-bit confusions), with 95%
bootstrap intervals over animals of the mean; pooled MCC per seed when every fold was run; with
two seeds or more, how much the variant's MCC on a cow moves from seed to seed, against the
reference's distilled student and its student without KD (statistics.paired_steadiness). Writes
bench/results/pilots/kd-NAME.json (with every fold's confusion matrices, so seeds run apart can
be pooled later).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import reference_run  # noqa: E402
from saved_folds import fold_model  # noqa: E402
from common import (FOLD_TEACHERS, RESULTS, WORK, bootstrap_mean, fold_split, machine, require_wasp,  # noqa: E402
                    result_confusions, result_overrides, worker_pool, write_result)

ROWS = ("teacher", "kd_teacher", "student_kd", "student_kd_fxp8")


def fold_job(overrides: dict, variant: dict, seed: int, animal: str, control: bool, reference: Path,
             keep: Path | None = None) -> dict:
    from sklearn.metrics import confusion_matrix

    from collar_kd.config import load_config
    from collar_kd.distill.teachers import TeacherPool
    from collar_kd.methods import StudentJob, resolve_settings, train_student
    from collar_kd.pipeline.train_run import start_distilled_student
    from collar_kd.progress import Quiet
    from collar_kd.quant.quantizer import quantize_student
    from collar_kd.sim import FixedPointSimulator
    from collar_kd.training.loop import class_weights, predict_logits, seed_everything

    started = time.time()
    base = load_config(None, {**overrides, "seed": seed})
    fold = fold_split(base, animal)
    key, train, xt, yt, n, labels, arch = fold.key, fold.train, fold.xt, fold.yt, fold.n_classes, fold.labels, fold.arch
    out = {"animal": animal, "key": key, "confusion": {}}
    for tag, cfg in (("", load_config(None, {**overrides, "seed": seed, **variant})),) + ((("control_", base),) if control else ()):
        seed_everything(cfg.seed, cfg.threads)  # as run_fold: seeded, then the teacher first
        w = class_weights(train.y, n, cfg.class_weighting)
        pool = TeacherPool(cfg, train.x, train.y, n, w, key, Quiet(), animals=train.animal,
                           directory=FOLD_TEACHERS / f"seed-{seed}" / key)
        saved = reference_run(reference, seed) / "folds" / key / "teacher.safetensors"
        if saved.is_file():
            resnet = fold_model(reference_run(reference, seed), key, "teacher",  # the reference run's own
                                {**arch, "teacher": {"filters": cfg.teacher.filters, "kernels": cfg.teacher.kernels}})
            if not is_reference_model(resnet, "teacher", reference, seed, animal, xt, yt, labels):
                raise SystemExit(f"{saved}: not the reference's teacher (its held-out confusion differs)")
            pool.put(pool.main_spec, resnet)
        teacher = pool.get(pool.main_spec)
        no_kd = saved_no_kd_student(cfg, reference, seed, key, animal, arch, xt, yt, labels)
        if no_kd is None and (cfg.kd.start == "no_kd_student" or teaches_with_gru(cfg)):  # as train_all trains it, checked
            no_kd = trained_no_kd_student(cfg, reference, seed, train, n, w, key, animal, xt, yt, labels)
        if no_kd is not None:  # a 'gru' teacher is the fold's student without KD: reloaded, not retrained
            pool.adopt_no_kd_student(no_kd)
        job = StudentJob(cfg, resolve_settings(cfg), train.x, train.y, n, train.length, arch, pool, w, key, Quiet(),
                         no_kd_student=no_kd)
        start_distilled_student(job)
        student = train_student(job).student.eval()
        if keep is not None and not tag:  # the variant's student, for later analysis (bench/work)
            from safetensors.torch import save_file
            (keep / key).mkdir(parents=True, exist_ok=True)
            save_file(student.state_dict(), keep / key / "student_kd.safetensors")
        # The 8-bit model the run ships: the method's quantizer settings (compensated rounding since
        # the ninth session), as bench-accuracy's student_kd_fxp8 row computes it.
        q = quantize_student(student, train.x, {**arch, "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}},
                             **cfg.method.quantizer_args())
        preds = {"teacher": predict_logits(teacher, xt).argmax(1), "student_kd": predict_logits(student, xt).argmax(1),
                 "student_kd_fxp8": FixedPointSimulator(q).run(q.quantize_input(xt)).classes}
        if job.combined_teacher is not None:
            preds["kd_teacher"] = job.combined_teacher.predict(xt)
        for m, p in preds.items():
            if tag and m != "student_kd":
                continue
            out["confusion"][tag + m] = confusion_matrix(yt, p, labels=labels).tolist()
    out["seconds"] = round(time.time() - started, 1)
    return out


def teaches_with_gru(cfg) -> bool:
    """Whether a 'gru' teacher (the fold's student without KD) labels anything: among the method's
    teachers or kd.transfer_teachers."""
    from collar_kd.distill.teachers import GRU, parse_teacher_spec

    names = [*cfg.method.options.get("teachers", []), *cfg.kd.transfer_teachers]
    return any(parse_teacher_spec(t, cfg.seed).arch == GRU for t in names)


def saved_no_kd_student(cfg, reference: Path, seed: int, key: str, animal: str, arch: dict, xt, yt, labels):
    """The reference run's student without KD of this fold (reference_run(...)/folds), checked
    against the reference's confusion matrix on the held-out animal; None when absent."""
    path = reference_run(reference, seed) / "folds" / key / "student.safetensors"
    if not path.is_file():
        return None
    student = fold_model(reference_run(reference, seed), key, "student",
                         {**arch, "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}})
    if not is_reference_model(student, "student", reference, seed, animal, xt, yt, labels):
        raise SystemExit(f"{path}: not the reference's student without KD (its held-out confusion differs)")
    return student


def trained_no_kd_student(cfg, reference: Path, seed: int, train, n: int, w, key: str, animal: str, xt, yt, labels):
    """The fold's student without KD trained here (no reference run's on this machine), checked
    against the reference's confusion matrix on the held-out animal as a reloaded one is."""
    from collar_kd.pipeline.train_run import train_plain_student
    from collar_kd.progress import Quiet

    student = train_plain_student(cfg, train.x, train.y, n, w, key, Quiet())
    if not is_reference_model(student, "student", reference, seed, animal, xt, yt, labels):
        raise SystemExit(f"seed {seed}, {key}: the student without KD trained here is not the reference's")
    return student


def is_reference_model(model, row: str, reference: Path, seed: int, animal: str, xt, yt, labels) -> bool:
    """Whether `model` gives the reference's confusion matrix of `row` (teacher, student) for this
    seed and held-out animal."""
    from sklearn.metrics import confusion_matrix

    from collar_kd.training.loop import predict_logits

    ref = json.loads(reference.read_text())
    want = next(f for f in ref["per_fold"] if f["animal"] == animal)["confusion_by_seed"][row][ref["seeds"].index(seed)]
    return confusion_matrix(yt, predict_logits(model, xt).argmax(1), labels=labels).tolist() == want


def load_reference(names: str) -> dict:
    """A reference result, or several of other seeds joined by " + " (as `merge` writes them):
    one document with their seeds side by side, the rows and animals they all have."""
    docs = [json.loads((RESULTS / n).read_text()) for n in names.split(" + ")]
    if len(docs) == 1:
        return docs[0]
    animals = [f["animal"] for f in docs[0]["per_fold"]]
    seeds = [s for d in docs for s in d["seeds"]]
    if any([f["animal"] for f in d["per_fold"]] != animals for d in docs) or len(set(seeds)) != len(seeds):
        sys.exit(f"pilot: the references {names} differ in their animals or share a seed")
    def joined(part):  # a part's rows (models) that every reference has, their per-seed lists joined
        rows = set.intersection(*(set(part(d)) for d in docs))
        return {m: [v for d in docs for v in part(d)[m]] for m in rows}

    per_fold = [{"animal": a, **{k: joined(lambda d, i=i, k=k: d["per_fold"][i][k])
                                 for k in ("mcc_by_seed", "confusion_by_seed")}} for i, a in enumerate(animals)]
    pooled = joined(lambda d: {m: v["per_seed"] for m, v in d["pooled_mcc"].items()})
    return {"seeds": seeds, "per_fold": per_fold, "pooled_mcc": {m: {"per_seed": v} for m, v in pooled.items()}}


def summarize(name: str, variant: dict, reference: str, done: dict, wall_time_s: float) -> dict:
    """The pilot's result from every fold's confusion matrices, done[(seed, animal)], against the
    reference result named `reference` (in bench/results; several joined by " + ")."""
    from collar_kd.evaluation.statistics import mcc_from_confusion

    ref = load_reference(reference)
    seeds = sorted({s for s, _ in done})
    animals = [f["animal"] for f in ref["per_fold"] if any((s, f["animal"]) in done for s in seeds)]
    missing = [f"{s}/{a}" for s in seeds for a in animals if (s, a) not in done]
    if missing:
        sys.exit(f"pilot: folds missing for a summary: {', '.join(missing)}")
    col = {s: ref["seeds"].index(s) for s in seeds}
    ref_mcc = {f["animal"]: f["mcc_by_seed"] for f in ref["per_fold"]}
    mcc = {(s, a): {m: float(mcc_from_confusion(np.array(c))) for m, c in done[s, a].items()} for s, a in done}
    doc = {"name": name, "overrides": variant, "reference": reference, "seeds": seeds, "animals": animals,
           "teachers_identical_to_reference": all(abs(mcc[s, a]["teacher"] - ref_mcc[a]["teacher"][col[s]]) < 1e-9
                                                  for s, a in mcc)}
    controls = [(s, a) for s, a in mcc if "control_student_kd" in mcc[s, a]]
    if controls:
        doc["control_identical_to_reference"] = {
            f"{s}/{a}": abs(mcc[s, a]["control_student_kd"] - ref_mcc[a]["student_kd"][col[s]]) < 1e-9 for s, a in controls}
    doc["per_animal_mcc"] = {a: {m: [round(mcc[s, a][m], 4) for s in seeds] for m in ROWS if all(m in mcc[s, a] for s in seeds)}
                             for a in animals}
    fxp8 = {f["animal"]: [float(mcc_from_confusion(np.array(c))) for c in f["confusion_by_seed"]["student_kd_fxp8"]]
            for f in ref["per_fold"] if "student_kd_fxp8" in f.get("confusion_by_seed", {})}
    pairs = [(m, o) for o in ("student_kd", "student") for m in ("student_kd", "student_kd_fxp8")]
    if len(fxp8) == len(ref["per_fold"]):  # the reference's 8-bit student, what its collar runs, paired with the variant's
        ref_mcc = {a: {**v, "student_kd_fxp8": fxp8[a]} for a, v in ref_mcc.items()}
        pairs.append(("student_kd_fxp8", "student_kd_fxp8"))
    for m, other in pairs:
        d = np.array([np.mean([mcc[s, a][m] - ref_mcc[a][other][col[s]] for s in seeds]) for a in animals])
        lo, hi = bootstrap_mean(d)
        doc[f"{m} minus reference {other}, per animal"] = {
            "mean": round(float(d.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)],
            "animals_better": int((d > 0).sum()), "animals_worse": int((d < 0).sum()),
            "per_animal": {a: round(float(v), 4) for a, v in zip(animals, d)}}
    if len(animals) == len(ref["per_fold"]):
        rows = [m for m in ROWS if m in done[seeds[0], animals[0]]]
        doc["pooled_mcc"] = {m: [round(float(mcc_from_confusion(np.sum([done[s, a][m] for a in animals], axis=0))), 4)
                                 for s in seeds] for m in rows}
        doc["reference_pooled_mcc"] = {m: [round(ref["pooled_mcc"][m]["per_seed"][col[s]], 4) for s in seeds]
                                       for m in ("teacher", "kd_teacher", "student", "student_kd", "student_kd_fxp8")}
        doc["pooled_mean_minus_reference"] = {
            f"variant {m} minus reference {o}": round(float(np.mean(doc["pooled_mcc"][m]) - np.mean(doc["reference_pooled_mcc"][o])), 4)
            for m in ("student_kd", "student_kd_fxp8") for o in ("student_kd", "student")}
        doc["variant_fxp8_minus_float_per_seed"] = [round(a - b, 4) for a, b in
                                                    zip(doc["pooled_mcc"]["student_kd_fxp8"], doc["pooled_mcc"]["student_kd"])]
    if len(seeds) >= 2:  # distillation's measured gain is steadiness: the variant's, paired with the reference's
        from collar_kd.evaluation.statistics import paired_steadiness, seed_spread_per_animal

        rows = [i for i, f in enumerate(ref["per_fold"]) if f["animal"] in animals]  # in the order of `animals`
        conf = {"variant student_kd": np.array([[done[s, a]["student_kd"] for a in animals] for s in seeds])}
        conf.update({f"reference {m}": result_confusions(ref, m)[[col[s] for s in seeds]][:, rows]
                     for m in ("student_kd", "student")})
        doc["seed_spread_per_animal"] = {m: round(float(seed_spread_per_animal(c).mean()), 4) for m, c in conf.items()}
        doc["steadiness"] = {f"variant student_kd against {m}": paired_steadiness(conf["variant student_kd"], conf[m])
                             for m in ("reference student_kd", "reference student")}
    doc["confusion"] = {f"{s}/{a}": done[s, a] for s, a in sorted(done)}
    doc["wall_time_s"] = round(wall_time_s, 1)
    doc["machine"] = machine()
    return doc


def merge(name: str, parts: list[str]) -> None:
    """`merge NAME PART...`: one result from pilots run apart (other seeds or animals, same overrides),
    against their references joined when those differ (parts of other seeds, other reference runs)."""
    docs = [json.loads((RESULTS / "pilots" / f"kd-{p}.json").read_text()) for p in parts]
    if any(d["overrides"] != docs[0]["overrides"] for d in docs):
        sys.exit("pilot: the parts differ in their overrides")
    references = list(dict.fromkeys(d["reference"] for d in docs))
    done = {}
    for d in docs:
        for k, v in d["confusion"].items():
            s, a = k.split("/")
            done[int(s), a] = v
    doc = summarize(name, docs[0]["overrides"], " + ".join(references), done, sum(d["wall_time_s"] for d in docs))
    doc["merged_from"] = [f"kd-{p}.json" for p in parts]
    write_out(doc)


def resummarize(name: str) -> None:
    """`summary NAME`: kd-NAME.json summarized again from its own confusion matrices by this code
    (figures added since it was written); its wall time and machine are kept."""
    old = json.loads((RESULTS / "pilots" / f"kd-{name}.json").read_text())
    done = {(int(k.split("/")[0]), k.split("/")[1]): v for k, v in old["confusion"].items()}
    doc = summarize(name, old["overrides"], old["reference"], done, old["wall_time_s"])
    doc.update({k: old[k] for k in ("machine", "merged_from") if k in old})
    write_out(doc)


def write_out(doc: dict) -> None:
    path = write_result(f"pilots/kd-{doc['name']}.json", doc)
    print(json.dumps({k: v for k, v in doc.items() if k not in ("confusion", "per_animal_mcc")}, indent=1))
    print("wrote", path)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "merge":
        return merge(sys.argv[2], sys.argv[3:])
    if len(sys.argv) > 1 and sys.argv[1] == "summary":
        return resummarize(sys.argv[2])
    from collar_kd.evaluation.statistics import mcc_from_confusion

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("seeds")
    ap.add_argument("overrides", help="JSON object of dotted settings, e.g. '{\"kd.transfer\": \"mixup\"}'")
    ap.add_argument("--animals", default="")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--reference", type=Path, default=RESULTS / "accuracy.json")
    ap.add_argument("--control", action="store_true", help="also train the unchanged student (must match the reference)")
    ap.add_argument("--keep", action="store_true",
                    help="save every fold's distilled student in bench/work/kd-NAME/seed-S/FOLD/student_kd.safetensors")
    args = ap.parse_args()
    if args.reference.resolve().parent != RESULTS.resolve():
        sys.exit(f"pilot: --reference must be a result in {RESULTS}, not {args.reference}")
    root = require_wasp()
    ref = json.loads(args.reference.read_text())
    seeds = [int(s) for s in args.seeds.split(",")]
    variant = json.loads(args.overrides)
    overrides = result_overrides(ref["settings"], root, keep_method=True)
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    col = {s: ref["seeds"].index(s) for s in seeds}
    ref_mcc = {f["animal"]: f["mcc_by_seed"] for f in ref["per_fold"]}
    started = time.time()
    done = {}
    with worker_pool(args.jobs) as ex:
        futures = {(s, a): ex.submit(fold_job, overrides, variant, s, a, args.control, args.reference.resolve(),
                                            WORK / f"kd-{args.name}" / f"seed-{s}" if args.keep else None)
                   for s in seeds for a in animals}
        for (s, a), fut in futures.items():
            done[s, a] = r = fut.result()
            mcc = {m: round(float(mcc_from_confusion(np.array(c))), 4) for m, c in r["confusion"].items()}
            print(f"seed {s} {a}: {mcc}  reference student_kd {ref_mcc[a]['student_kd'][col[s]]:.4f} "
                  f"student {ref_mcc[a]['student'][col[s]]:.4f}  {r['seconds']}s", flush=True)
    write_out(summarize(args.name, variant, args.reference.name, {k: v["confusion"] for k, v in done.items()},
                        time.time() - started))


if __name__ == "__main__":
    main()
