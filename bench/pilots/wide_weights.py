"""Pilot: which layers' 8-bit weights cost the integer model its MCC?

bench-accuracy keeps every fold's distilled student (bench/work/accuracy-NAME-seed-S/folds/KEY/
student_kd.safetensors: the float weights after the run's quantization-aware finish). This pilot
quantizes each of them again with the run's calibration and per-row formats, with every layer in
8 bits and with one or more layers' weights in 16 bits (`quantize_student(..., layer_bits=...)`),
and simulates the held-out animal's windows bit-exactly:

  float      the float student (bench-accuracy's student_kd row)
  fxp8       every weight in 8 bits (bench-accuracy's 8-bit row; checked equal to it)
  inp16      the input layer (3 -> hidden) in 16 bits, the rest in 8
  ih16       the GRU's input matrix in 16 bits, the rest in 8
  hh16       the GRU's recurrent matrix in 16 bits, the rest in 8
  head16     the MLP head (fc1, fc2) in 16 bits, the rest in 8
  inp_ih16   the input layer and the GRU's input matrix in 16 bits, the rest in 8
  gru16      both GRU matrices in 16 bits
  all16      every weight in 16 bits

The students were finished through the all-8-bit graph; a run with a wider layer finishes through
its own graph, so these rows are what exporting the same students wider gives.

    python bench/pilots/wide_weights.py NAME SEED [SEED ...]

Writes bench/results/pilots/wide-weights-NAME-sSEEDS.json: every fold's confusion matrices and
agreement with its float model, flash the weights take, pooled MCC per seed, and paired differences
over seeds and animals (95% bootstrap over animals).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, WORK, fold_split, kept_student, machine, require_wasp, result_overrides, write_result  # noqa: E402

VARIANTS = {"fxp8": {}, "inp16": {"inp": 16}, "ih16": {"ih": 16}, "hh16": {"hh": 16}, "head16": {"fc1": 16, "fc2": 16},
            "inp_ih16": {"inp": 16, "ih": 16}, "gru16": {"ih": 16, "hh": 16}, "all16": {k: 16 for k in ("inp", "ih", "hh", "fc1", "fc2")}}
ROWS = ("float", *VARIANTS)
PAIRS = (*((v, "float") for v in VARIANTS), ("ih16", "fxp8"), ("hh16", "fxp8"), ("inp_ih16", "ih16"))


def fold_job(cfg, animal: str, run: Path) -> dict:
    import torch
    from sklearn.metrics import confusion_matrix

    from collar_kd.quant.quantizer import quantize_student
    from collar_kd.sim import FixedPointSimulator
    from collar_kd.training.loop import predict_logits
    from collar_kd.verify.measure import estimate_footprint

    torch.set_num_threads(1)
    started = time.time()
    fold = fold_split(cfg, animal)
    student, arch = kept_student(cfg, fold, run / "folds" / fold.key / "student_kd.safetensors")
    pred = {"float": predict_logits(student, fold.xt).argmax(1)}
    flash = {}
    for row, layer_bits in VARIANTS.items():
        q = quantize_student(student, fold.train.x, arch, cfg.method.weight_bits, cfg.method.calibration,
                             cfg.method.weight_formats, layer_bits)
        pred[row] = FixedPointSimulator(q).run(q.quantize_input(fold.xt)).classes
        flash[row] = estimate_footprint(q)["flash_bytes"]
    return {"animal": animal, "key": fold.key,
            "agreement_with_float": {r: round(float(np.mean(pred[r] == pred["float"])), 4) for r in VARIANTS},
            "estimated_flash_bytes": flash,
            "confusion": {r: confusion_matrix(fold.yt, pred[r], labels=range(fold.n_classes)).tolist() for r in ROWS},
            "seconds": round(time.time() - started, 1)}


def main() -> None:
    from collar_kd.config import load_config
    from collar_kd.evaluation.statistics import paired_difference, pooled_mcc_per_seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="the bench-accuracy variant whose kept students to quantize (bench/work/accuracy-NAME-seed-S)")
    ap.add_argument("seeds", type=int, nargs="+")
    args = ap.parse_args()
    root = require_wasp()
    ref = json.loads((RESULTS / f"accuracy-{args.name}.json").read_text())
    started = time.time()
    per_seed, conf = {}, {r: [] for r in ROWS}
    for seed in args.seeds:
        cfg = load_config(None, {**result_overrides(ref["settings"], root, keep_method=True), "seed": seed})
        run = WORK / f"accuracy-{args.name}-seed-{seed}"
        folds = []
        for f in ref["per_fold"]:
            folds.append(fold_job(cfg, f["animal"], run))
            r = folds[-1]
            print(f"seed {seed} {r['animal']}: agreement with float {r['agreement_with_float']} ({r['seconds']} s)", flush=True)
        # The all-8-bit row must be bench-accuracy's own 8-bit row, fold for fold.
        at = ref["seeds"].index(seed)
        bench = {f["animal"]: f["confusion_by_seed"]["student_kd_fxp8"][at] for f in ref["per_fold"]}
        same = all(f["confusion"]["fxp8"] == bench[f["animal"]] for f in folds)
        per_seed[seed] = {"per_fold": folds, "fxp8_equals_bench": same}
        for r in ROWS:
            conf[r].append([f["confusion"][r] for f in folds])
    conf = {r: np.array(c) for r, c in conf.items()}
    pooled = {r: [round(float(v), 4) for v in pooled_mcc_per_seed(c)] for r, c in conf.items()}
    pairs = {}
    for a, b in PAIRS:
        d = paired_difference(conf[a], conf[b])
        pairs[f"{a} - {b}"] = {k: round(d[k], 4) if isinstance(d[k], float) else d[k]
                               for k in ("difference", "ci_low", "ci_high", "animals_better", "animals_worse")}
    flash = {r: int(np.max([f["estimated_flash_bytes"][r] for s in per_seed.values() for f in s["per_fold"]])) for r in VARIANTS}
    summary = {"pooled_mcc": pooled, "pooled_mcc_mean": {r: round(float(np.mean(v)), 4) for r, v in pooled.items()},
               "paired_differences": pairs, "estimated_flash_bytes_max": flash,
               "fxp8_equals_bench": {s: v["fxp8_equals_bench"] for s, v in per_seed.items()}}
    print(json.dumps(summary, indent=1))
    write_result(f"pilots/wide-weights-{args.name}-s{'-'.join(map(str, args.seeds))}.json", {
        "seeds": args.seeds, "reference": f"accuracy-{args.name}.json", "variants": VARIANTS, **summary,
        "per_seed": per_seed, "wall_time_s": round(time.time() - started, 1), "machine": machine()})


if __name__ == "__main__":
    main()
