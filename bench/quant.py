"""make bench-quant: accuracy after dynamic fixed-point quantization, leave-one-animal-out on the
shared WASP collar data.

Reuses the fold models that `make bench-accuracy` keeps in bench/work/accuracy-run (it runs
that benchmark's training first if they are missing). Per fold, the KD student is quantized
with formats calibrated on that fold's training windows only, simulated bit-exactly on the
held-out animal, and compared with: the float KD student, 8-bit and 16-bit fixed point with and
without quantization-aware fine-tuning, and PyTorch's dynamic int8 quantization of the same
student (the peer). Pooled MCC over folds; simulator and float throughput on the same windows;
the activation tables' measured error. Writes bench/results/quant.json.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import matthews_corrcoef

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, require_wasp, write_result  # noqa: E402

from collar_kd.config import config_from_dict  # noqa: E402
from collar_kd.data import load_recordings, windows_for  # noqa: E402
from collar_kd.models import GRUStudent, ResNetTeacher  # noqa: E402
from collar_kd.distill.losses import make_loss  # noqa: E402
from collar_kd.distill.targets import cached_targets  # noqa: E402
from collar_kd.quant.qat import qat_finetune  # noqa: E402
from collar_kd.quant.quantizer import quantize_student  # noqa: E402
from collar_kd.quant.tables import sigmoid_table, tanh_table  # noqa: E402
from collar_kd.runs import read_json  # noqa: E402
from collar_kd.sim import FixedPointSimulator  # noqa: E402
from collar_kd.sim.kernels import act_lookup  # noqa: E402
from collar_kd.training.loop import class_weights, predict_logits, seed_everything  # noqa: E402

QAT_EPOCHS = 2
# fxp8 / fxp16: every weight to its nearest grid point (the rule up to 2026-12-06, kept so the figures
# compare with the committed ones); fxp8_compensated: the default since (method.rounding).
VARIANTS = ("float_kd", "fxp8", "fxp8_compensated", "fxp8_mse", "fxp16", "fxp8_qat", "fxp16_qat", "torch_dynamic_int8")


def load_fold(run: Path, key: str, arch: dict) -> tuple[GRUStudent, ResNetTeacher]:
    from safetensors.torch import load_file

    n = len(arch["classes"])
    student = GRUStudent(n, arch["student"]["hidden"], arch["student"]["head"])
    student.load_state_dict(load_file(str(run / "folds" / key / "student_kd.safetensors")))
    teacher = ResNetTeacher(n, arch["teacher"]["filters"], arch["teacher"]["kernels"])
    teacher.load_state_dict(load_file(str(run / "folds" / key / "teacher.safetensors")))
    return student.eval(), teacher.eval()


def table_errors() -> dict:
    q = np.arange(-32768, 32768, dtype=np.int64)
    x = q / 4096.0
    return {"sigmoid_max_abs_error": float(np.abs(act_lookup(q, sigmoid_table()) / 32768 - 1 / (1 + np.exp(-x))).max()),
            "tanh_max_abs_error": float(np.abs(act_lookup(q, tanh_table()) / 32768 - np.tanh(x)).max())}


def throughput(student: GRUStudent, q, x: np.ndarray) -> dict:
    xq = q.quantize_input(x)
    FixedPointSimulator(q).run(xq[:64])  # warm-up
    t = time.perf_counter()
    FixedPointSimulator(q).run(xq)
    sim = len(x) / (time.perf_counter() - t)
    predict_logits(student, x[:64])
    t = time.perf_counter()
    predict_logits(student, x)
    flt = len(x) / (time.perf_counter() - t)
    return {"windows": len(x), "simulator_windows_per_s": round(sim, 1), "float_torch_windows_per_s": round(flt, 1),
            "ratio": round(sim / flt, 3), "target": ">= 0.25", "met": sim / flt >= 0.25}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=None, help="a run with fold models (default: bench-accuracy's)")
    ap.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS)
    args = ap.parse_args()
    started = time.time()
    if args.run is None:
        require_wasp()
        from accuracy import WORK_RUN
        if not (WORK_RUN / "folds").is_dir():
            print("bench-quant: no fold models yet; running the accuracy benchmark's training first", file=sys.stderr)
            import accuracy
            accuracy.main()
        args.run = WORK_RUN
    run = args.run
    cfg = config_from_dict(read_json(run / "config.json"))
    seed_everything(cfg.seed, cfg.threads)
    arch = read_json(run / "models" / "models.json")
    metrics = read_json(run / "metrics.json")
    rec, cmap = load_recordings(cfg.data, seed=cfg.seed)
    win = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
    preds = {v: [] for v in VARIANTS}
    truth, per_fold, formats = [], [], []
    for fold in metrics["folds"]:
        student, teacher = load_fold(run, fold["key"], arch)
        test = win.animal == fold["animal"]
        train = win.subset(~test)
        xt, yt = win.x[test], win.y[test]
        truth.append(yt)
        fold_pred = {"float_kd": predict_logits(student, xt).argmax(1)}
        for bits in (8, 16):
            q = quantize_student(student, train.x, arch, bits, "range")
            fold_pred[f"fxp{bits}"] = FixedPointSimulator(q).run(q.quantize_input(xt)).classes
            if bits == 8:
                qc = quantize_student(student, train.x, arch, 8, "range", rounding="compensated")
                fold_pred["fxp8_compensated"] = FixedPointSimulator(qc).run(qc.quantize_input(xt)).classes
                qm = quantize_student(student, train.x, arch, 8, "mse")
                fold_pred["fxp8_mse"] = FixedPointSimulator(qm).run(qm.quantize_input(xt)).classes
                formats.append({"animal": fold["animal"], "range": q.frac, "mse": qm.frac})
            soft = cached_targets(predict_logits(teacher, train.x))
            qq, _, _ = qat_finetune(student, q, train.x, train.y, soft, make_loss(cfg.kd), args.qat_epochs, cfg.seed,
                                    weights=class_weights(train.y, len(win.classes), cfg.class_weighting))
            fold_pred[f"fxp{bits}_qat"] = FixedPointSimulator(qq).run(qq.quantize_input(xt)).classes
        dyn = torch.ao.quantization.quantize_dynamic(copy.deepcopy(student), {torch.nn.GRU, torch.nn.Linear}, dtype=torch.qint8)
        fold_pred["torch_dynamic_int8"] = predict_logits(dyn, xt).argmax(1)
        for v in VARIANTS:
            preds[v].append(fold_pred[v])
        per_fold.append({"animal": fold["animal"], "test_windows": int(test.sum()),
                         "agreement_with_float": {v: float((fold_pred[v] == fold_pred["float_kd"]).mean()) for v in VARIANTS}})
        print(f"fold {fold['animal']}: " + ", ".join(f"{v} agree {per_fold[-1]['agreement_with_float'][v]:.3f}" for v in VARIANTS[1:]), flush=True)
    y = np.concatenate(truth)
    mcc = {v: float(matthews_corrcoef(y, np.concatenate(preds[v]))) for v in VARIANTS}
    q_all = quantize_student(student, win.x, arch, 8, "range")
    doc = {
        "dataset": cfg.data.path,
        "run": str(run),
        "classes": list(win.classes),
        "window": {"length": win.length, "stride": win.stride, "sample_rate_hz": win.sample_rate},
        "student": arch["student"],
        "pooled_mcc": mcc,
        "qat": {"epochs": args.qat_epochs, "loss": "kd", "alpha": cfg.kd.alpha, "temperature": cfg.kd.temperature},
        "per_fold": per_fold,
        "formats_per_fold": formats,
        "activation_tables": table_errors(),
        "throughput": throughput(student, q_all, win.x[:4000]),
        "targets": {
            "fxp8_within_0.005_of_float": {"measured": round(mcc["fxp8"] - mcc["float_kd"], 4), "met": mcc["fxp8"] >= mcc["float_kd"] - 0.005},
            "fxp8_compensated_within_0.005_of_float": {"measured": round(mcc["fxp8_compensated"] - mcc["float_kd"], 4),
                                                       "met": mcc["fxp8_compensated"] >= mcc["float_kd"] - 0.005},
            "fxp8_qat_within_0.005_of_float": {"measured": round(mcc["fxp8_qat"] - mcc["float_kd"], 4), "met": mcc["fxp8_qat"] >= mcc["float_kd"] - 0.005},
            "fxp8_above_torch_dynamic_int8": {"measured": round(mcc["fxp8"] - mcc["torch_dynamic_int8"], 4), "met": mcc["fxp8"] > mcc["torch_dynamic_int8"]},
        },
        "wall_time_s": round(time.time() - started, 1),
        "machine": machine(),
    }
    path = write_result("quant.json", doc)
    print(f"wrote {path}")
    for v in VARIANTS:
        print(f"  {v:20s} pooled MCC {mcc[v]:.4f}")
    print(f"  throughput: {doc['throughput']}")
    for k, t in doc["targets"].items():
        print(f"  target {k}: {t['measured']} {'met' if t['met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
