"""Pilot: how many epochs the quantization-aware finish (kd.qat_epochs) wants. For every fold of
one seed, bench-accuracy's saved distilled student of a run made without the finish (default
accuracy-seeds567.json) is finished as a run with kd.qat_epochs = N finishes it
(collar_kd.quant.qat.qat_finetune towards its own float soft labels, the run's KD loss and class
weights, the labelled training windows), for every N asked, and judged in float and, through the
bit-exact simulator, in 8 bits. N = 0 is the student as it was.

    python bench/pilots/qat_epochs.py SEED [--epochs 0,1,2,4,8] [--reference bench/results/accuracy-seeds567.json]
    python bench/pilots/qat_epochs.py summary NAME FILE [FILE ...]

Every N is measured on the held-out cows it is then judged on, so choosing the best N here is a
(mild) choice on the test folds: the pilot asks whether 2 sits on a plateau, not which N wins.
Writes bench/results/pilots/qat-epochs-sSEED.json; `summary` merges seeds into qat-epochs-NAME.json:
pooled MCC per N (mean over seeds) and, per N, the paired difference from N = 2 (95% bootstrap over
animals).
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
from common import RESULTS, fold_split, machine, require_wasp, result_overrides, worker_pool, write_result  # noqa: E402
from accuracy import reference_run  # noqa: E402

CHOSEN = 2  # the collar recipe's kd.qat_epochs


def fold_job(overrides: dict, seed: int, animal: str, reference: Path, epochs: list[int]) -> dict:
    import torch

    from collar_kd.config import load_config
    from collar_kd.distill.losses import make_loss
    from collar_kd.distill.targets import cached_targets
    from collar_kd.quant.qat import qat_finetune
    from collar_kd.quant.quantizer import quantize_student
    from collar_kd.sim import FixedPointSimulator
    from collar_kd.training.loop import class_weights, predict_logits, seed_everything

    torch.set_num_threads(1)
    started = time.time()
    cfg = load_config(None, {**overrides, "seed": seed})
    fold = fold_split(cfg, animal)
    arch = {**fold.arch, "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
    student = fold_model(reference_run(reference, seed), fold.key, "student_kd", arch)
    w = class_weights(fold.train.y, fold.n_classes, cfg.class_weighting)
    own = cached_targets(predict_logits(student, fold.train.x))
    q8 = quantize_student(student, fold.train.x, arch, 8, cfg.method.calibration, cfg.method.weight_formats)
    pred = {}
    for n in epochs:
        if n == 0:
            q, tuned = q8, student
        else:
            seed_everything(seed, 1)
            _, tuned, _ = qat_finetune(student, q8, fold.train.x, fold.train.y, own, make_loss(cfg.kd), n, seed, weights=w)
            # re-calibrated on the tuned weights, as methods/plain.py's finish and `collar-kd export` do
            q = quantize_student(tuned, fold.train.x, arch, 8, cfg.method.calibration, cfg.method.weight_formats)
        pred[f"float_e{n}"] = predict_logits(tuned, fold.xt).argmax(1).tolist()
        pred[f"fxp8_e{n}"] = FixedPointSimulator(q).run(q.quantize_input(fold.xt)).classes.tolist()
    return {"animal": animal, "truth": fold.yt.tolist(), "pred": pred, "seconds": round(time.time() - started, 1)}


def summary(name: str, files: list[str]) -> None:
    from collar_kd.evaluation.statistics import paired_difference, pooled_mcc_per_seed

    docs = [json.loads((RESULTS / "pilots" / f).read_text()) for f in files]
    animals, rows = docs[0]["animals"], docs[0]["rows"]
    if any(d["animals"] != animals or d["rows"] != rows for d in docs) or len({d["seed"] for d in docs}) < len(docs):
        sys.exit("pilot: the files hold other animals or epochs, or a seed twice")
    conf = {r: np.array([[f["confusion"][r] for f in d["per_fold"]] for d in docs]) for r in rows}
    doc = {"files": files, "seeds": [d["seed"] for d in docs], "animals": animals,
           "pooled_mcc": {r: {"mean": round(float(pooled_mcc_per_seed(c).mean()), 4),
                              "per_seed": [round(float(v), 4) for v in pooled_mcc_per_seed(c)]} for r, c in conf.items()},
           "paired_against_chosen": {}, "machine": machine()}
    for r in rows:
        kind = r.split("_e")[0]
        base = f"{kind}_e{CHOSEN}"
        if r != base and base in conf:
            d = paired_difference(conf[r], conf[base])
            doc["paired_against_chosen"][f"{r} - {base}"] = {k: (round(v, 4) if isinstance(v, float) else v)
                                                             for k, v in d.items() if k != "per_animal"}
    path = write_result(f"pilots/qat-epochs-{name}.json", doc)
    for r, v in doc["pooled_mcc"].items():
        print(f"  {r:10s} {v['mean']:.4f}  {v['per_seed']}")
    for k, d in doc["paired_against_chosen"].items():
        print(f"  {k:22s} {d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] {d['animals_better']}/{d['animals_worse']}")
    print("wrote", path)


def main() -> None:
    from sklearn.metrics import confusion_matrix, matthews_corrcoef

    if len(sys.argv) > 1 and sys.argv[1] == "summary":
        return summary(sys.argv[2], sys.argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("--epochs", default="0,1,2,4,8", help="the kd.qat_epochs values to try, comma-separated")
    ap.add_argument("--reference", type=Path, default=RESULTS / "accuracy-seeds567.json",
                    help="a bench-accuracy result made without the finish, whose fold models are in bench/work")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--animals", default="")
    args = ap.parse_args()
    epochs = [int(e) for e in args.epochs.split(",")]
    root = require_wasp()
    ref = json.loads(args.reference.read_text())
    if ref["settings"]["kd"].get("qat_epochs", 0):
        sys.exit(f"pilot: {args.reference.name} was trained with the finish already; take a run made without it")
    overrides = result_overrides(ref["settings"], root, keep_method=True)
    animals = [f["animal"] for f in ref["per_fold"] if not args.animals or f["animal"] in args.animals.split(",")]
    started = time.time()
    with worker_pool(args.jobs) as ex:
        futures = [ex.submit(fold_job, overrides, args.seed, a, args.reference.resolve(), epochs) for a in animals]
        folds = []
        for fut in futures:
            r = fut.result()
            folds.append(r)
            print(r["animal"], {k: round(float(matthews_corrcoef(r["truth"], p)), 3) for k, p in r["pred"].items()},
                  f"{r['seconds']}s", flush=True)
    rows = list(folds[0]["pred"])
    y = np.concatenate([f["truth"] for f in folds])
    labels = list(range(len(ref["classes"])))
    doc = {"seed": args.seed, "reference": args.reference.name, "epochs": epochs, "animals": animals, "rows": rows,
           "pooled_mcc": {r: round(float(matthews_corrcoef(y, np.concatenate([f["pred"][r] for f in folds]))), 4) for r in rows},
           "per_fold": [{"animal": f["animal"], "seconds": f["seconds"],
                         "mcc": {r: round(float(matthews_corrcoef(f["truth"], p)), 4) for r, p in f["pred"].items()},
                         "confusion": {r: confusion_matrix(f["truth"], p, labels=labels).tolist() for r, p in f["pred"].items()}}
                        for f in folds],
           "wall_time_s": round(time.time() - started, 1), "machine": machine()}
    path = write_result(f"pilots/qat-epochs-s{args.seed}.json", doc)
    print(json.dumps(doc["pooled_mcc"], indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
