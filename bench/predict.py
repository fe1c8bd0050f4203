"""make bench-predict: `collar-kd predict` on real and long recordings.

1. Throughput and peak memory: all of ../shared/datasets/wasp_cow_walking treated as
   unlabelled, classified by the float KD student and by the bit-exact simulator of its 8-bit
   export (one `collar-kd predict` process each, so the peak memory is that run's own).
2. A day of one animal at 62.5 Hz (synthetic, written as CSV: 5.4 million rows), read in chunks
   and resampled to the model's 10 Hz: peak memory and throughput.
3. Does smoothing help? On the bench-accuracy leave-one-animal-out fold models (seed 0), each
   held-out animal's recordings classified by its fold's KD student, window MCC pooled over
   folds without smoothing, with a 5-window majority filter and with the HMM (transitions
   counted on the fold's training animals only).

Writes bench/results/predict.json, whatever the figures are.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import WORK, machine, require_wasp, write_result  # noqa: E402

from collar_kd.config import load_config  # noqa: E402
from collar_kd.data import load_recordings  # noqa: E402
from collar_kd.field.segments import segments_from_recordings  # noqa: E402
from collar_kd.field.smoothing import Smoothing, TransitionModel, smooth  # noqa: E402
from collar_kd.pipeline.predict_run import window_label  # noqa: E402
from collar_kd.runs import build_model, read_json  # noqa: E402
from collar_kd.evaluation.metrics import classification_metrics  # noqa: E402
from collar_kd.training.loop import predict_logits  # noqa: E402

RUN = WORK / "predict-run"
ACCURACY_RUN = WORK / "accuracy-run"  # bench-accuracy's seed-0 fold models


def sh(*args) -> None:
    subprocess.run([str(a) for a in args], check=True)


def model_run(root: Path) -> Path:
    """A final model on all ten cows with bench-accuracy's recipe (trained once, kept)."""
    if not (RUN / "models" / "student_kd.safetensors").is_file():
        sh("collar-kd", "train", "--data", root, "--format", "wasp", "--window", "5s", "--stride", "2.5s", "--cv", "none",
           "--teacher-epochs", "15", "--student-epochs", "30", "--augment-rotation", "90", "--out", RUN, "--force", "-q")
    if not (RUN.parent / "predict-export" / "manifest.json").is_file():
        sh("collar-kd", "export", RUN, "--target", "collar", "--device-rate", "10", "--out", RUN.parent / "predict-export",
           "--windows", "100", "--force")
    return RUN


def predict(args: list, out: Path) -> dict:
    started = time.time()
    sh("collar-kd", "predict", RUN, *args, "--out", out, "--force", "-q")
    doc = json.loads((out / "predict.json").read_text())
    return {"windows": doc["windows"], "animals": len(doc["animals"]), "classifier": doc["classifier"],
            "windows_per_s_classifier_only": doc["timing"]["windows_per_s"], "wall_s": round(time.time() - started, 1),
            "peak_rss_mb": doc["timing"]["peak_rss_mb"], "notes": doc["notes"]}


def day_csv(path: Path) -> int:
    if path.is_file():
        return sum(1 for _ in open(path)) - 1
    from collar_kd.data.synthetic import SyntheticSettings, generate, write_csv

    rec = generate(SyntheticSettings(animals=1, bouts_per_class=16, bout_seconds=(900, 1800), sample_rate=62.5), seed=5)
    write_csv(rec, path)
    return sum(len(b) for b in rec.bouts)


def smoothing_on_folds(root: Path) -> dict:
    cfg = load_config(None, {"data.format": "wasp", "data.path": str(root)})
    rec, class_map = load_recordings(cfg.data)
    classes = class_map.classes
    arch = read_json(ACCURACY_RUN / "models" / "models.json")
    length = arch["window_length"]
    stride = length // 2
    kinds = {"none": Smoothing("none"), "majority-5": Smoothing("majority", 5), "hmm": Smoothing("hmm")}
    y_all, pred = [], {k: [] for k in kinds}
    per_fold = []
    for i, animal in enumerate(sorted(rec.animals)):
        key = f"fold-{i:02d}-{animal}"
        model = build_model("student_kd", arch)
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ACCURACY_RUN / "folds" / key / "student_kd.safetensors")))
        model.eval()
        train_segs = [s for s in segments_from_recordings(rec, classes) if s.animal != animal]
        sequences = [np.array([window_label(s.labels[j:j + length], len(classes))
                               for j in range(0, len(s) - length + 1, stride)], dtype=np.int64) for s in train_segs]
        transitions = TransitionModel.estimate(sequences, len(classes))
        fold = {"animal": animal}
        ys, ps = [], {k: [] for k in kinds}
        for seg in (s for s in segments_from_recordings(rec, classes) if s.animal == animal):
            starts = np.arange(0, len(seg) - length + 1, stride)
            if not len(starts):
                continue
            x = np.stack([seg.samples[j:j + length] for j in starts])
            z = predict_logits(model, x).astype(np.float64)
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            ys.append(np.array([window_label(seg.labels[j:j + length], len(classes)) for j in starts]))
            for k, sm in kinds.items():
                ps[k].append(smooth(p, sm, transitions))
        y = np.concatenate(ys)
        for k in kinds:
            pk = np.concatenate(ps[k])
            fold[k] = classification_metrics(y, pk, classes)["mcc"]
            pred[k].append(pk)
        y_all.append(y)
        per_fold.append(fold)
        print(f"  {animal}: " + ", ".join(f"{k} {fold[k]:.3f}" for k in kinds), flush=True)
    y = np.concatenate(y_all)
    pooled = {k: classification_metrics(y, np.concatenate(pred[k]), classes)["mcc"] for k in kinds}
    return {"pooled_mcc": pooled, "per_fold": per_fold, "windows": int(len(y)), "stride_samples": stride,
            "note": "each WASP file is one labelled bout, so most recordings are short: smoothing works within them"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-day", action="store_true", help="skip the 62.5 Hz day (writing it takes a few minutes)")
    args = ap.parse_args()
    root = require_wasp()
    started = time.time()
    model_run(root)
    doc = {"machine": machine(), "run": str(RUN)}
    print("predict: all of wasp_cow_walking as unlabelled, float KD student", flush=True)
    doc["wasp_float"] = predict(["--data", root, "--format", "wasp"], WORK / "predict-out-float")
    print("predict: the same with the 8-bit simulator", flush=True)
    doc["wasp_simulator"] = predict(["--data", root, "--format", "wasp", "--export", RUN.parent / "predict-export"],
                                    WORK / "predict-out-sim")
    if not args.skip_day:
        path = WORK / "day-62.5hz.csv"
        rows = day_csv(path)
        print(f"predict: one animal, one day at 62.5 Hz ({rows:,} rows, {path.stat().st_size / 2**20:.0f} MB)", flush=True)
        doc["day_62_5hz"] = {"rows": rows, "csv_mb": round(path.stat().st_size / 2**20, 1),
                             **predict(["--data", path, "--csv-rate", "62.5"], WORK / "predict-out-day")}
    if (ACCURACY_RUN / "folds").is_dir():
        print("smoothing on the bench-accuracy fold models (seed 0)", flush=True)
        doc["smoothing_loao"] = smoothing_on_folds(root)
    else:
        doc["smoothing_loao"] = {"note": f"not measured: {ACCURACY_RUN}/folds missing (run make bench-accuracy first)"}
    doc["wall_s"] = round(time.time() - started, 1)
    print(json.dumps({k: v for k, v in doc.items() if k != "smoothing_loao"}, indent=1))
    print(json.dumps(doc["smoothing_loao"].get("pooled_mcc"), indent=1))
    write_result("predict.json", doc)


if __name__ == "__main__":
    main()
