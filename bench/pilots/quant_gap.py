"""Pilot: why some distilled students lose more than others in 8 bits, and what closes the gap.
For every fold of one seed, the reference run's distilled student, its student without KD
(no_kd) and (with --variant NAME) a kd_variants pilot's kept student (`kd_variants.py NAME ...
--keep`), each in float and as the bit-exact simulator runs it:

  fxp8          8-bit weights, per-row formats, range calibration (what bench-accuracy reports)
  fxp8_mse      the same, mse calibration
  fxp16         16-bit weights (so what is left is the activations' and tables' rounding)
  fxp8_qat_self quantization-aware fine-tuning (collar_kd.quant.qat.qat_finetune) towards the
                float student's own soft labels, with the run's KD loss and class weights
  float_qat_self  the float weights fxp8_qat_self was derived from. The two are what a run with
                kd.qat_epochs (the same epochs) gives its distilled student.
  fxp8_qat_teacher  the same towards the fold's ResNet teacher (what `collar-kd export
                --qat-epochs` does)
  float_ft_self, fxp8_ft_self  the control: the same fine-tuning as fxp8_qat_self in float
                (no fake quantization), then quantized as fxp8: what the extra epochs do alone

and how close the float student's decisions are: the share of held-out windows whose top two
logits are within 0.5 (in the logits' own units) of each other.

    python bench/pilots/quant_gap.py SEED [--variant NAME] [--reference bench/results/accuracy-seeds567.json]
                                     [--qat-epochs 2] [--jobs 2]

    python bench/pilots/quant_gap.py summary NAME FILE [FILE ...]

Writes bench/results/pilots/quant-gap-NAME-sSEED.json (quant-gap-reference-sSEED.json without
--variant): pooled MCC per model and row, every fold's MCC, confusion matrices and agreement with
its float model; `summary` merges seeds' files into quant-gap-NAME.json (see PAIRS).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from saved_folds import fold_model  # noqa: E402
from common import RESULTS, WORK, fold_split, machine, require_wasp, result_overrides, worker_pool, write_result  # noqa: E402
from accuracy import reference_run  # noqa: E402

ROWS = ("float", "fxp8", "fxp8_mse", "fxp16", "fxp8_qat_self", "float_qat_self", "fxp8_qat_teacher", "float_ft_self",
        "fxp8_ft_self")


def fold_job(overrides: dict, seed: int, animal: str, reference: Path, kept: Path | None, qat_epochs: int) -> dict:
    import torch
    from safetensors.torch import load_file

    from collar_kd.config import load_config
    from collar_kd.distill.losses import make_loss
    from collar_kd.distill.targets import cached_targets
    from collar_kd.quant.qat import qat_finetune
    from collar_kd.quant.quantizer import quantize_student
    from collar_kd.runs import build_model
    from collar_kd.sim import FixedPointSimulator
    from collar_kd.training.loop import class_weights, fit, predict_logits, seed_everything

    torch.set_num_threads(1)
    started = time.time()
    cfg = load_config(None, {**overrides, "seed": seed})
    fold = fold_split(cfg, animal)
    arch = {**fold.arch, "teacher": {"filters": cfg.teacher.filters, "kernels": cfg.teacher.kernels},
            "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
    train, xt = fold.train, fold.xt
    w = class_weights(train.y, fold.n_classes, cfg.class_weighting)
    resnet = fold_model(reference_run(reference, seed), fold.key, "teacher", arch)
    teacher_soft = cached_targets(predict_logits(resnet, train.x))
    run = reference_run(reference, seed)
    models = {"reference": fold_model(run, fold.key, "student_kd", arch), "no_kd": fold_model(run, fold.key, "student", arch)}
    if kept is not None:
        models["variant"] = build_model("student_kd", arch)
        models["variant"].load_state_dict(load_file(str(kept / fold.key / "student_kd.safetensors")))
        models["variant"].eval()
    out = {"animal": animal, "key": fold.key, "pred": {}, "close_decisions": {}}
    for name, student in models.items():
        logits = predict_logits(student, xt)
        top2 = np.sort(logits, axis=1)[:, -2:]
        out["close_decisions"][name] = round(float(np.mean(top2[:, 1] - top2[:, 0] < 0.5)), 4)
        pred = {"float": logits.argmax(1)}

        def simulated(q):
            return FixedPointSimulator(q).run(q.quantize_input(xt)).classes

        q8 = quantize_student(student, train.x, arch, 8, "range")
        pred["fxp8"] = simulated(q8)
        pred["fxp8_mse"] = simulated(quantize_student(student, train.x, arch, 8, "mse"))
        pred["fxp16"] = simulated(quantize_student(student, train.x, arch, 16, "range"))
        own = cached_targets(predict_logits(student, train.x))
        for row, soft in (("fxp8_qat_self", own), ("fxp8_qat_teacher", teacher_soft)):
            seed_everything(seed, 1)
            qq, tuned, _ = qat_finetune(student, q8, train.x, train.y, soft, make_loss(cfg.kd), qat_epochs, seed, weights=w)
            pred[row] = simulated(qq)
            if row == "fxp8_qat_self":  # the tuned float weights: the float row of a run with kd.qat_epochs
                pred["float_qat_self"] = predict_logits(tuned, xt).argmax(1)
        seed_everything(seed, 1)
        tuned = build_model("student_kd", arch)
        tuned.load_state_dict(student.state_dict())
        fit(tuned, train.x, train.y, make_loss(cfg.kd), qat_epochs, 128, 5e-4, seed, targets=own, weights=w)  # qat_finetune's
        tuned.eval()
        pred["float_ft_self"] = predict_logits(tuned, xt).argmax(1)
        pred["fxp8_ft_self"] = simulated(quantize_student(tuned, train.x, arch, 8, "range"))
        out["pred"][name] = {r: p.tolist() for r, p in pred.items()}
    out["truth"] = fold.yt.tolist()
    out["seconds"] = round(time.time() - started, 1)
    return out


# Paired comparisons of the summary: (model, row) minus (model, row). A run with kd.qat_epochs
# reports its distilled student as reference/float_qat_self and reference/fxp8_qat_self, its student
# without KD as no_kd/float (the finish is the distilled student's only).
PAIRS = ((("reference", "fxp8_qat_self"), ("reference", "fxp8")),
         (("reference", "float_qat_self"), ("reference", "float")),
         (("reference", "fxp8_qat_self"), ("reference", "float_qat_self")),
         (("reference", "fxp8_qat_self"), ("reference", "fxp8_qat_teacher")),
         (("reference", "float_ft_self"), ("reference", "float")),
         (("no_kd", "fxp8_qat_self"), ("no_kd", "fxp8")),
         (("reference", "float"), ("no_kd", "float")),
         (("reference", "float_qat_self"), ("no_kd", "float")),
         (("reference", "fxp8"), ("no_kd", "fxp8")),
         (("reference", "fxp8_qat_self"), ("no_kd", "fxp8")),
         (("variant", "fxp8_qat_self"), ("reference", "fxp8_qat_self")))


def summary(name: str, files: list[str]) -> None:
    """Seeds' results (files in bench/results/pilots, one seed each) merged: pooled MCC per model
    and row (mean over seeds), PAIRS with a 95% bootstrap interval over animals, and how much
    steadier from seed to seed the finished distilled student is than the unfinished one. The
    models are those every file holds."""
    from collar_kd.evaluation.statistics import paired_difference, paired_steadiness, pooled_mcc_per_seed

    docs = [json.loads((RESULTS / "pilots" / f).read_text()) for f in files]
    animals, seeds = docs[0]["animals"], [d["seed"] for d in docs]
    if any(d["animals"] != animals or d["qat_epochs"] != docs[0]["qat_epochs"] for d in docs) or len(set(seeds)) < len(seeds):
        sys.exit("pilot: the files hold other animals or QAT epochs, or a seed twice")
    models = [m for m in docs[0]["pooled_mcc"] if all(m in d["pooled_mcc"] for d in docs)]
    conf = {(m, row): np.array([[f["confusion"][m][row] for f in d["per_fold"]] for d in docs])
            for m in models for row in docs[0]["rows"]}

    def short(r: dict) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "per_animal"}

    doc = {"files": files, "seeds": seeds, "qat_epochs": docs[0]["qat_epochs"], "animals": animals,
           "pooled_mcc": {f"{m}/{row}": {"mean": round(float(pooled_mcc_per_seed(c).mean()), 4),
                                         "per_seed": [round(float(v), 4) for v in pooled_mcc_per_seed(c)]}
                          for (m, row), c in conf.items()},
           "paired_differences": {f"{a[0]}/{a[1]} - {b[0]}/{b[1]}": short(paired_difference(conf[a], conf[b]))
                                  for a, b in PAIRS if a in conf and b in conf},
           "steadiness": {"reference/fxp8_qat_self against reference/fxp8": short(
               paired_steadiness(conf["reference", "fxp8_qat_self"], conf["reference", "fxp8"]))}
           if len(seeds) > 1 else None,
           "machine": machine()}
    path = write_result(f"pilots/quant-gap-{name}.json", doc)
    print(json.dumps({k: v for k, v in doc.items() if k != "machine"}, indent=1))
    print("wrote", path)


def main() -> None:
    from sklearn.metrics import confusion_matrix, matthews_corrcoef

    if len(sys.argv) > 1 and sys.argv[1] == "summary":
        return summary(sys.argv[2], sys.argv[3:])

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("--variant", default="", help="the kd_variants pilot whose kept students to study (bench/work/kd-NAME)")
    ap.add_argument("--reference", type=Path, default=RESULTS / "accuracy-seeds567.json")
    ap.add_argument("--qat-epochs", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--animals", default="")
    args = ap.parse_args()
    root = require_wasp()
    ref = json.loads(args.reference.read_text())
    kept = WORK / f"kd-{args.variant}" / f"seed-{args.seed}" if args.variant else None
    if kept is not None and not kept.is_dir():
        sys.exit(f"pilot: no kept students in {kept} (run kd_variants.py {args.variant} ... --keep first)")
    overrides = result_overrides(ref["settings"], root, keep_method=True)
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    started = time.time()
    with worker_pool(args.jobs) as ex:
        futures = [ex.submit(fold_job, overrides, args.seed, a, args.reference.resolve(), kept, args.qat_epochs)
                   for a in animals]
        folds = []
        for fut in futures:
            r = fut.result()
            folds.append(r)
            y = np.array(r["truth"])
            print(r["animal"], {m: {row: round(float(matthews_corrcoef(y, p)), 3) for row, p in rows.items()}
                                for m, rows in r["pred"].items()}, r["close_decisions"], f"{r['seconds']}s", flush=True)
    y = np.concatenate([f["truth"] for f in folds])
    models, labels = list(folds[0]["pred"]), list(range(len(ref["classes"])))
    doc = {"variant": args.variant or None, "seed": args.seed, "reference": args.reference.name, "qat_epochs": args.qat_epochs,
           "animals": animals, "rows": list(ROWS),
           "pooled_mcc": {m: {row: round(float(matthews_corrcoef(y, np.concatenate([f["pred"][m][row] for f in folds]))), 4)
                              for row in ROWS} for m in models},
           "per_fold": [{"animal": f["animal"], "close_decisions": f["close_decisions"],
                         "mcc": {m: {row: round(float(matthews_corrcoef(f["truth"], p)), 4) for row, p in rows.items()}
                                 for m, rows in f["pred"].items()},
                         "agreement_with_float": {m: {row: round(float(np.mean(np.array(p) == np.array(rows["float"]))), 4)
                                                      for row, p in rows.items()} for m, rows in f["pred"].items()},
                         "confusion": {m: {row: confusion_matrix(f["truth"], p, labels=labels).tolist()
                                           for row, p in rows.items()} for m, rows in f["pred"].items()}}
                        for f in folds],
           "wall_time_s": round(time.time() - started, 1), "machine": machine()}
    path = write_result(f"pilots/quant-gap-{args.variant or 'reference'}-s{args.seed}.json", doc)
    print(json.dumps(doc["pooled_mcc"], indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
