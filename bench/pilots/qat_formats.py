"""Pilot: is the 8-bit gap after the quantization-aware finish in the formats?

The finish (kd.qat_epochs, collar_kd/quant/qat.py) trains through the fake-quantized graph in the
formats calibrated before it, then the integer model is derived again from the tuned weights, so
a weight row whose range crossed a power of two gets another format than the one it was trained
in. For every fold of one seed, a kd_variants pilot's kept distilled students (before the finish,
`kd_variants.py NAME ... --keep`) are finished as a run finishes them, then simulated bit-exactly
with 8-bit weights:

  float      the tuned float weights (bench-accuracy's student_kd row of a run with the finish)
  rederived  formats derived again from the tuned weights (what bench-accuracy and export do)
  kept       the tuned weights rounded in the formats the finish trained through
  float_mse, fxp8_mse  the same finish with mse calibration (formats chosen for the smallest error)

    python bench/pilots/qat_formats.py SEED KEPT_NAME [--reference bench/results/accuracy-rfgqat.json]

Writes bench/results/pilots/qat-formats-KEPT_NAME-sSEED.json: every fold's confusion matrices,
which formats changed, each 8-bit row's agreement with its float model, pooled MCC and paired
differences (95% bootstrap over animals).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, WORK, fold_split, kept_student, machine, require_wasp, result_overrides, write_result  # noqa: E402

ROWS = ("float", "rederived", "kept", "float_mse", "fxp8_mse")
PAIRS = (("kept", "rederived"), ("fxp8_mse", "rederived"), ("rederived", "float"), ("fxp8_mse", "float_mse"))


def in_formats(tuned, q):
    """The tuned weights and biases rounded in q's formats (the ones the finish trained through)."""
    from collar_kd.quant.quantizer import float_layers, integer_layer, layer_input_frac

    in_frac = layer_input_frac(q.frac)
    weights, biases = {}, {}
    for name, (w, b) in float_layers(tuned).items():
        w, b = w.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)
        weights[name], biases[name], _ = integer_layer(w, b, np.asarray(q.weight_frac(name)), in_frac[name], q.weight_bits)
    return dataclasses.replace(q, weights=weights, biases=biases)


def fold_job(cfg, animal: str, kept: Path) -> dict:
    import torch
    from sklearn.metrics import confusion_matrix

    from collar_kd.distill.losses import make_loss
    from collar_kd.distill.targets import cached_targets
    from collar_kd.quant.qat import qat_finetune
    from collar_kd.quant.quantizer import quantize_student
    from collar_kd.sim import FixedPointSimulator
    from collar_kd.training.loop import class_weights, predict_logits

    torch.set_num_threads(1)
    started = time.time()
    fold = fold_split(cfg, animal)
    student, arch = kept_student(cfg, fold, kept / fold.key / "student_kd.safetensors")
    x, y = fold.train.x, fold.train.y
    w = class_weights(y, fold.n_classes, cfg.class_weighting)
    own = cached_targets(predict_logits(student, x))  # the finish learns towards the student's own answers
    epochs = cfg.kd.qat_epochs or 2  # a reference run without the finish: the recipe's 2 epochs

    def simulated(q):
        return FixedPointSimulator(q).run(q.quantize_input(fold.xt)).classes

    pred, out = {}, {"animal": animal, "key": fold.key}
    for calibration in ("range", "mse"):
        q = quantize_student(student, x, arch, 8, calibration)
        q_new, tuned, _ = qat_finetune(student, q, x, y, own, make_loss(cfg.kd), epochs, cfg.seed, weights=w)
        if calibration == "range":
            pred["float"] = predict_logits(tuned, fold.xt).argmax(1)
            pred["rederived"], pred["kept"] = simulated(q_new), simulated(in_formats(tuned, q))
            out["activation_formats_changed"] = {k: [q.frac[k], q_new.frac[k]] for k in q.frac if q.frac[k] != q_new.frac[k]}
            out["weight_rows_changed"] = {k: int(np.sum(np.asarray(q.row_frac[k]) != np.asarray(q_new.row_frac[k])))
                                          for k in q.row_frac}
        else:
            pred["float_mse"], pred["fxp8_mse"] = predict_logits(tuned, fold.xt).argmax(1), simulated(q_new)
    out["agreement_with_float"] = {r: round(float(np.mean(pred[r] == pred["float"])), 4) for r in ("rederived", "kept")}
    out["confusion"] = {r: confusion_matrix(fold.yt, pred[r], labels=range(fold.n_classes)).tolist() for r in ROWS}
    out["seconds"] = round(time.time() - started, 1)
    return out


def main() -> None:
    from collar_kd.config import load_config
    from collar_kd.evaluation.statistics import paired_difference, pooled_mcc_per_seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("kept", help="the kd_variants pilot whose kept students to finish (bench/work/kd-NAME)")
    ap.add_argument("--reference", type=Path, default=RESULTS / "accuracy-rfgqat.json")
    args = ap.parse_args()
    root = require_wasp()
    ref = json.loads(args.reference.read_text())
    cfg = load_config(None, {**result_overrides(ref["settings"], root, keep_method=True), "seed": args.seed})
    kept = WORK / f"kd-{args.kept}" / f"seed-{args.seed}"
    started = time.time()
    folds = []
    for f in ref["per_fold"]:
        folds.append(fold_job(cfg, f["animal"], kept))
        r = folds[-1]
        print(f"{r['animal']}: rows changed {r['weight_rows_changed']}, activations {r['activation_formats_changed']}, "
              f"agreement with float {r['agreement_with_float']} ({r['seconds']} s)", flush=True)
    conf = {r: np.array([[f["confusion"][r] for f in folds]]) for r in ROWS}
    pooled = {r: round(float(pooled_mcc_per_seed(c)[0]), 4) for r, c in conf.items()}
    pairs = {}
    for a, b in PAIRS:
        d = paired_difference(conf[a], conf[b])
        pairs[f"{a} - {b}"] = {k: round(d[k], 4) if isinstance(d[k], float) else d[k]
                               for k in ("difference", "ci_low", "ci_high", "animals_better", "animals_worse")}
    print(json.dumps({"pooled_mcc": pooled, "paired": pairs}, indent=1))
    write_result(f"pilots/qat-formats-{args.kept}-s{args.seed}.json", {
        "seed": args.seed, "kept_students": str(kept.relative_to(WORK.parent)), "reference": args.reference.name,
        "rows": {"float": "the finished float weights", "rederived": "8-bit, formats derived again from them (as now)",
                 "kept": "8-bit, in the formats the finish trained through",
                 "float_mse": "the finish with mse calibration, float", "fxp8_mse": "... and its 8-bit form"},
        "pooled_mcc": pooled, "paired_differences": pairs, "per_fold": folds,
        "wall_time_s": round(time.time() - started, 1), "machine": machine()})


if __name__ == "__main__":
    main()
