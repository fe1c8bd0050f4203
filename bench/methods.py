"""make bench-methods: every way of training the distilled student, leave-one-animal-out on the
shared WASP collar data, float and 8-bit fixed point.

Per fold (held-out animal), on the same windows: the teachers (ResNet seed 0, FCN seeds 0 and 1;
each trained once), then every method of collar_kd.methods through the same registry that
`collar-kd train --method` uses, then an ablation of QAT-KD over the temperature and the
soft/hard coefficient (constant or decreasing). Every student is evaluated on the held-out
animal as a float model and as the 8-bit fixed-point model (formats calibrated on that fold's
training windows, for every method, as `collar-kd export` does), simulated bit-exactly.
The KD and QAT-KD students are also simulated with 6-, 4- and 2-bit (ternary) weights.

Teachers and per-(variant, fold) results are cached in bench/work/methods, so an interrupted
run resumes; the reported times are those measured when each piece was trained. Writes
bench/results/methods.json and bench/results/methods.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file
from sklearn.metrics import matthews_corrcoef

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DAFL_AS_PUBLISHED, RESULTS, WORK, machine, require_wasp, write_result  # noqa: E402

from collar_kd.config import load_config  # noqa: E402
from collar_kd.data import load_recordings, windows_for  # noqa: E402
from collar_kd.distill.teachers import TeacherPool, parse_teacher_spec  # noqa: E402
from collar_kd.distill.targets import ensemble_logits  # noqa: E402
from collar_kd.methods import StudentJob, resolve_settings, train_student  # noqa: E402
from collar_kd.models import GRUStudent  # noqa: E402
from collar_kd.progress import RichBars  # noqa: E402
from collar_kd.quant.quantizer import quantize_student  # noqa: E402
from collar_kd.sim import FixedPointSimulator  # noqa: E402
from collar_kd.training.loop import class_weights, predict_logits, seed_everything  # noqa: E402
from collar_kd.pipeline.train_run import train_plain_student  # noqa: E402

OUT = WORK / "methods"

BASE = {
    "data.format": "wasp", "data.window": "5s", "data.stride": "2.5s",
    "teacher.epochs": 10, "student.epochs": 25,
    "class_weighting": "sqrt", "augment_rotation_deg": 90.0, "seed": 0, "cv": "loao",
}
TEACHERS = ["resnet:0", "fcn:0", "fcn:1"]
QAT_KD = {"method.name": "qat-kd", "method.epochs": 3, "kd.alpha": 0.9, "kd.alpha_schedule": "cosine", "kd.alpha_end": 0.0}
VARIANTS = {
    "none": {"method.name": "none"},
    "kd": {"method.name": "kd"},
    "qat-kd": QAT_KD,
    "speq": {"method.name": "speq", "method.epochs": 5},
    "ensemble": {"method.name": "ensemble", "method.teachers": TEACHERS},
    "feed-parallel": {"method.name": "feed", "method.teachers": TEACHERS, "method.mode": "parallel"},
    "feed-sequential": {"method.name": "feed", "method.teachers": TEACHERS, "method.mode": "sequential"},
    "data-free": DAFL_AS_PUBLISHED,  # DAFL as published: one-hot, activation, information entropy
    # DAFL plus a batch-norm statistics term (not in DAFL): a one-fold pilot showed pure DAFL's
    # generator collapsing to one saturated class on this teacher.
    "data-free +BN": {**DAFL_AS_PUBLISHED, "method.bn_statistics_weight": 0.1},
}
# QAT-KD ablation: temperature under the decreasing coefficient, and constant vs decreasing at T = 4
# (the cell T = 4, cosine 0.9 -> 0 is the qat-kd variant itself).
ABLATION = {
    "qat-kd T=2": {**QAT_KD, "kd.temperature": 2.0},
    "qat-kd T=8": {**QAT_KD, "kd.temperature": 8.0},
    "qat-kd alpha=0.9 constant": {**QAT_KD, "kd.alpha_schedule": "constant"},
    "qat-kd alpha=0.5 constant": {**QAT_KD, "kd.alpha": 0.5, "kd.alpha_schedule": "constant"},
}
LOW_BITS = (6, 4, 2)


def mcc(y, p) -> float:
    return float(matthews_corrcoef(y, p))


def settings_key(overrides: dict) -> str:
    return hashlib.sha256(json.dumps({**BASE, **overrides}, sort_keys=True).encode()).hexdigest()[:12]


def fxp_predict(student: GRUStudent, calib_x: np.ndarray, arch: dict, x: np.ndarray, bits: int, calibration: str) -> np.ndarray:
    q = quantize_student(student, calib_x, arch, bits, calibration)
    return FixedPointSimulator(q).run(q.quantize_input(x)).classes


def run_variant(name: str, overrides: dict, root: Path, fold: dict, pool: TeacherPool, no_kd: GRUStudent,
                progress) -> dict:
    path = OUT / "results" / name.replace(" ", "_").replace(">", "") / f"{fold['key']}.json"
    skey = settings_key(overrides)
    if path.is_file():
        doc = json.loads(path.read_text())
        if doc["settings_key"] == skey:
            return {**doc, "from_cache": True}
    cfg = load_config(None, {**BASE, **overrides, "data.path": str(root)})
    train, held, arch = fold["train"], fold["held"], fold["arch"]
    job = StudentJob(cfg, resolve_settings(cfg), train.x, train.y, len(train.classes), train.length, arch, pool, pool.weights, fold["key"],
                     progress, no_kd_student=no_kd)
    result = train_student(job)
    eval_started = time.time()
    student = result.student
    calib = train.x  # as `collar-kd export` does, for every method
    calibration = cfg.method.calibration
    doc = {
        "variant": name, "settings_key": skey, "overrides": overrides, "seconds": result.report["seconds"],
        "float_pred": predict_logits(student, held.x).argmax(axis=1).tolist(),
        "fxp8_pred": fxp_predict(student, calib, arch, held.x, 8, calibration).tolist(),
        "report": {k: v for k, v in result.report.items() if k not in ("loss_per_epoch",)},
    }
    if name in ("kd", "qat-kd"):
        doc["low_bits_pred"] = {str(b): fxp_predict(student, calib, arch, held.x, b, "mse").tolist() for b in LOW_BITS}
    doc["eval_seconds"] = round(time.time() - eval_started, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return {**doc, "from_cache": False}


def no_kd_student(cfg, fold: dict, pool: TeacherPool, progress) -> tuple[GRUStudent, float]:
    """The student without KD, trained once per fold (speq starts from it); cached."""
    train = fold["train"]
    path = OUT / "folds" / fold["key"] / f"student-none-{settings_key({})}.safetensors"
    if path.is_file():
        student = GRUStudent(len(train.classes), cfg.student.hidden, cfg.student.head)
        student.load_state_dict(load_file(str(path)))
        return student.eval(), json.loads(path.with_suffix(".json").read_text())["seconds"]
    started = time.time()
    student = train_plain_student(cfg, train.x, train.y, len(train.classes), pool.weights, fold["key"], progress)
    seconds = round(time.time() - started, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps({"seconds": seconds}))
    return student.eval(), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=0, help="only the first N folds (a quick look; 0 = all)")
    ap.add_argument("--no-ablation", action="store_true")
    args = ap.parse_args()
    root = require_wasp()
    started = time.time()
    cfg = load_config(None, {**BASE, "data.path": str(root)})
    seed_everything(cfg.seed, cfg.threads)
    progress = RichBars()
    rec, class_map = load_recordings(cfg.data, seed=cfg.seed)
    win = windows_for(rec, class_map.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length}
    animals = sorted(np.unique(win.animal).tolist())
    if args.folds:
        animals = animals[: args.folds]
    variants = dict(VARIANTS) | ({} if args.no_ablation else ABLATION)
    teacher_specs = [parse_teacher_spec(s) for s in TEACHERS]
    y_all, preds, per_fold = [], {}, []
    teacher_seconds, student_seconds = {str(s): 0.0 for s in teacher_specs}, {v: 0.0 for v in variants}
    low_bits: dict[str, dict[str, list]] = {v: {str(b): [] for b in LOW_BITS} for v in ("kd", "qat-kd")}
    cached = {"teachers": 0, "students": 0}
    eval_seconds = 0.0
    for i, animal in enumerate(animals):
        test = win.animal == animal
        train, held = win.subset(~test), win.subset(test)
        key = f"fold-{i:02d}-{animal}"
        progress.log(f"fold {i + 1}/{len(animals)}: held-out animal {animal} ({len(held)} windows)")
        fold = {"key": key, "train": train, "held": held, "arch": arch}
        weights = class_weights(train.y, len(win.classes), cfg.class_weighting)
        pool = TeacherPool(cfg, train.x, train.y, len(win.classes), weights, key, progress, OUT / "folds" / key / "teachers",
                           animals=train.animal)
        y_all.append(held.y)
        fold_doc = {"animal": animal, "test_windows": len(held), "mcc": {}}
        t_logits = []
        for spec in teacher_specs:
            cached["teachers"] += int(pool.cache_path(spec).is_file())
            logits = predict_logits(pool.get(spec), held.x)
            t_logits.append(logits)
            name = f"teacher {spec}"
            preds.setdefault(name, []).append(logits.argmax(axis=1))
            teacher_seconds[str(spec)] += pool.seconds[spec]
            fold_doc["mcc"][name] = mcc(held.y, logits.argmax(axis=1))
        ens = ensemble_logits(t_logits, cfg.kd.temperature).argmax(axis=1)
        preds.setdefault("teacher ensemble", []).append(ens)
        no_kd, secs = no_kd_student(cfg, fold, pool, progress)
        for name, overrides in variants.items():
            doc = run_variant(name, overrides, root, fold, pool, no_kd, progress)
            cached["students"] += int(doc["from_cache"])
            eval_seconds += doc.get("eval_seconds", 0.0)
            seconds = doc["seconds"] + (secs if name == "speq" else 0.0)  # speq fine-tunes the no-KD student
            student_seconds[name] += seconds if name != "none" else secs
            for kind in ("float", "fxp8"):
                p = np.asarray(doc[f"{kind}_pred"])
                preds.setdefault(f"{name} | {kind}", []).append(p)
                fold_doc["mcc"][f"{name} | {kind}"] = mcc(held.y, p)
            for b, p in doc.get("low_bits_pred", {}).items():
                low_bits[name][b].append(np.asarray(p))
            if i == 0 or name in ("speq", "data-free"):
                fold_doc.setdefault("reports", {})[name] = doc["report"]
        per_fold.append(fold_doc)
    y = np.concatenate(y_all)
    pooled = {name: round(mcc(y, np.concatenate(p)), 4) for name, p in preds.items()}
    wall = time.time() - started
    measured = {"teacher_training_s": round(sum(teacher_seconds.values()), 1),
                "student_training_s": round(sum(student_seconds.values()), 1),
                "fixed_point_evaluation_s": round(eval_seconds, 1),
                "pieces_loaded_from_cache": cached}
    write_outputs(cfg, win, animals, variants, pooled, low_bits, y, teacher_seconds, student_seconds, per_fold, wall, measured)


def write_outputs(cfg, win, animals, variants, pooled, low_bits, y, teacher_seconds, student_seconds, per_fold, wall, measured):
    teacher_mcc = pooled["teacher resnet:0"]
    methods = {}
    for name in variants:
        methods[name] = {
            "settings": variants[name],
            "pooled_mcc_float": pooled[f"{name} | float"],
            "pooled_mcc_fxp8": pooled[f"{name} | fxp8"],
            "training_seconds": round(student_seconds[name], 1),
            "teachers_needed": (["resnet:0"] if name == "kd" or name.startswith(("qat-kd", "data-free")) else
                                list(TEACHERS) if name in ("ensemble", "feed-parallel", "feed-sequential") else []),
        }
    main_methods = [n for n in variants if n in VARIANTS]
    best = max(main_methods, key=lambda n: methods[n]["pooled_mcc_fxp8"])
    df_gap = {n: methods[n]["pooled_mcc_float"] - methods["kd"]["pooled_mcc_float"] for n in variants if n.startswith("data-free")}
    doc = {
        "dataset": str(require_wasp()),
        "classes": list(win.classes), "windows": len(win), "window": {"length": win.length, "stride": win.stride,
                                                                       "sample_rate_hz": win.sample_rate},
        "folds": len(animals), "animals": animals,
        "base_settings": BASE,
        "teachers": {k: {"pooled_mcc": pooled[f"teacher {k}"], "training_seconds": round(v, 1)} for k, v in teacher_seconds.items()},
        "teacher_ensemble_pooled_mcc": pooled["teacher ensemble"],
        "methods": methods,
        "low_bit_weights_pooled_mcc": {v: {b: round(mcc(y, np.concatenate(p)), 4) for b, p in d.items() if p}
                                       for v, d in low_bits.items()},
        "low_bit_note": "the trained 8-bit-path students re-quantized with 6/4/2-bit weights (mse formats) and simulated; "
                        "no C export for these",
        "best_method_by_fxp8": best,
        "targets": {
            "best_fxp8_vs_teacher": {"target": ">= 0 (best 8-bit student vs ResNet teacher)",
                                     "measured": round(methods[best]["pooled_mcc_fxp8"] - teacher_mcc, 4),
                                     "met": methods[best]["pooled_mcc_fxp8"] >= teacher_mcc},
            **{f"{n.replace(' ', '_')}_vs_kd": {"target": ">= -0.15 (float data-free vs float KD student)",
                                                "measured": round(g, 4), "met": g >= -0.15} for n, g in df_gap.items()},
            "wall_time": {"target": "<= 5400 s", "measured": round(wall, 1), "met": wall <= 5400},
        },
        "wall_time_s": round(wall, 1),
        "measured_time": measured,
        "wall_time_note": "this process, end to end; pieces loaded from bench/work/methods were not re-trained "
                          "(their measured times are in training_seconds)",
        "per_fold": per_fold,
        "machine": machine(),
    }
    path = write_result("methods.json", doc)
    (RESULTS / "methods.md").write_text(markdown(doc))
    print(f"wrote {path} and {RESULTS / 'methods.md'}")
    print(markdown(doc))


def markdown(doc: dict) -> str:
    lines = [
        "# bench-methods: distillation methods on the shared WASP collar data",
        "",
        f"Leave-one-animal-out over {doc['folds']} animals, {doc['windows']} windows of {doc['window']['length']} samples "
        f"at {doc['window']['sample_rate_hz']:g} Hz, classes {', '.join(doc['classes'])}. Pooled MCC over all held-out windows. "
        "8-bit: the student quantized (formats calibrated on the fold's training windows) and simulated bit-exactly.",
        "",
        "| teacher | pooled MCC | training s (all folds) |",
        "|---|---|---|",
    ]
    for k, t in doc["teachers"].items():
        lines.append(f"| {k} | {t['pooled_mcc']:.4f} | {t['training_seconds']:.0f} |")
    lines += [f"| ensemble of all three | {doc['teacher_ensemble_pooled_mcc']:.4f} | |", "",
              "| method | float MCC | 8-bit MCC | student training s (all folds) | teachers used | settings |", "|---|---|---|---|---|---|"]
    for name, m in doc["methods"].items():
        settings = ", ".join(f"{k}={v}" for k, v in m["settings"].items() if k != "method.name") or "-"
        lines.append(f"| {name} | {m['pooled_mcc_float']:.4f} | {m['pooled_mcc_fxp8']:.4f} | {m['training_seconds']:.0f} | "
                     f"{', '.join(m['teachers_needed']) or '-'} | {settings} |")
    lines += ["", "Low-bit weights (students re-quantized, simulated; pooled MCC):", ""]
    for v, d in doc["low_bit_weights_pooled_mcc"].items():
        lines.append(f"- {v}: " + ", ".join(f"{b}-bit {m:.4f}" for b, m in d.items()))
    lines += ["", "Targets:", ""]
    for k, t in doc["targets"].items():
        lines.append(f"- {k}: measured {t['measured']} (target {t['target']}): {'met' if t['met'] else 'MISSED'}")
    lines += ["", f"Wall time {doc['wall_time_s']:.0f} s on {doc['machine']['cpus']} CPUs. Base settings: "
              + ", ".join(f"{k}={v}" for k, v in doc["base_settings"].items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
