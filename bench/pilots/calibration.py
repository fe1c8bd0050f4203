"""Pilot: bench-accuracy's saved distilled students of the given seeds, float and quantized to 8
bits with range and with mse calibration, each with one weight format per tensor and one per row
(formats from the fold's training windows), simulated bit-exactly on the held-out animal.
python bench/pilots/calibration.py 0,1,2
Writes bench/results/pilots/calibration.json (calibration-animal.json for students trained in the
animal's frame, bench-accuracy's since 2026-12-03): pooled MCC per seed and every fold's MCC.
"""
import json, sys
from pathlib import Path
import numpy as np
from safetensors.torch import load_file
from sklearn.metrics import matthews_corrcoef
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import SETTINGS, WORK_RUN
from common import require_wasp
from collar_kd.config import load_config
from collar_kd.data import load_recordings, windows_for
from collar_kd.runs import build_model, read_json
from collar_kd.training.loop import predict_logits, seed_everything
from collar_kd.quant.quantizer import quantize_student
from collar_kd.sim import FixedPointSimulator
seeds = [int(s) for s in sys.argv[1].split(",")]
root = require_wasp()
cfg = load_config(None, {**SETTINGS, "data.path": str(root), "threads": 1})
seed_everything(0, 1)
rec, cmap = load_recordings(cfg.data, seed=0)
win = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length,
        "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
out = {}
for seed in seeds:
    run = WORK_RUN if seed == 0 else Path(str(WORK_RUN) + f"-seed-{seed}")
    acc = read_json(run / "metrics.json")
    kinds = [f"{cal}-{fmt}" for fmt in ("tensor", "row") for cal in ("range", "mse")]
    truth, preds, folds = [], {"float": [], **{k: [] for k in kinds}}, []
    for f in acc["folds"]:
        test = win.animal == f["animal"]
        m = build_model("student_kd", arch); m.load_state_dict(load_file(str(run / "folds" / f["key"] / "student_kd.safetensors"))); m.eval()
        truth.append(win.y[test]); preds["float"].append(predict_logits(m, win.x[test]).argmax(1))
        for kind in kinds:
            cal, fmt = kind.split("-")
            q = quantize_student(m, win.x[~test], arch, 8, cal, fmt)
            preds[kind].append(FixedPointSimulator(q).run(q.quantize_input(win.x[test])).classes)
        folds.append({"animal": f["animal"], **{k: round(float(matthews_corrcoef(truth[-1], v[-1])), 4) for k, v in preds.items()}})
        print(seed, folds[-1], flush=True)
    y = np.concatenate(truth)
    out[seed] = {"pooled": {k: round(float(matthews_corrcoef(y, np.concatenate(v))), 4) for k, v in preds.items()}, "folds": folds}
    print("POOLED", seed, out[seed]["pooled"], flush=True)
suffix = "" if cfg.data.frame == "sensor" else f"-{cfg.data.frame}"
path = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"calibration{suffix}.json"
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps(out, indent=1))
