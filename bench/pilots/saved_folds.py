"""What every pilot starts from: bench-accuracy's saved run of one seed (its folds and the
schedules, frame and rotations its fold models were trained with), the shared WASP windows, and
the fold models. With PILOT_RUNS=NAME in the environment the pilots start from the runs of
`bench/accuracy.py --name NAME` instead (bench/work/accuracy-NAME-seed-S)."""
import os
from pathlib import Path
import sys
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import accuracy  # noqa: E402
from accuracy import SETTINGS, run_dir  # noqa: E402
from common import fold_model, require_wasp  # noqa: E402,F401  (the pilots take fold_model from here)
from collar_kd.config import load_config  # noqa: E402
from collar_kd.data import load_recordings, windows_for  # noqa: E402
from collar_kd.runs import read_json  # noqa: E402
from collar_kd.training.loop import seed_everything  # noqa: E402

accuracy.RUN_NAME = os.environ.get("PILOT_RUNS") or None  # run_dir() reads it


def saved_run(seed: int, overrides: dict):
    """(run directory, its metrics, the config with `overrides`, windows, architecture)."""
    root = require_wasp()
    run = run_dir(seed)
    acc = read_json(run / "metrics.json")
    base = {k: v for k, v in SETTINGS.items() if k not in ("transductive", "save_fold_models")}
    saved = read_json(run / "config.json")  # the schedules the saved fold models were trained with
    base |= {"teacher.epochs": saved["teacher"]["epochs"], "student.epochs": saved["student"]["epochs"],
             "teacher.filters": saved["teacher"]["filters"],
             "data.frame": saved["data"].get("frame", "sensor"),  # the windows the saved models saw
             "augment_rotation_deg": saved["augment_rotation_deg"],
             "augment_rotation_axes_deg": saved["augment_rotation_axes_deg"]}
    cfg = load_config(None, {**base, "data.path": str(root), "threads": 1, "seed": seed, **overrides})
    seed_everything(cfg.seed, cfg.threads)
    rec, cmap = load_recordings(cfg.data, seed=0)
    win = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length,
            "teacher": {"filters": cfg.teacher.filters, "kernels": cfg.teacher.kernels},
            "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
    return run, acc, cfg, win, arch


def fold_models(run: Path, key: str, arch: dict) -> dict:
    """The fold's saved teacher, student and distilled student, in eval mode."""
    return {m: fold_model(run, key, m, arch) for m in ("teacher", "student", "student_kd")}


def saved_gru_teachers(specs, key: str, arch: dict) -> dict:
    """'gru:K' teachers taken from the no-KD students bench-accuracy saved for seed K and this fold
    (the student's network trained without KD with seed K: what a gru:K teacher is)."""
    found = {}
    for spec in (s for s in specs if s.arch == "gru"):
        if not (run_dir(spec.seed) / "folds" / key / "student.safetensors").is_file():
            sys.exit(f"pilot: gru:{spec.seed} needs bench-accuracy's seed-{spec.seed} run ({run_dir(spec.seed)})")
        found[spec] = fold_model(run_dir(spec.seed), key, "student", arch)
    return found


def against_student_without_kd(conf: dict, reference, animals: list, width: int = 45) -> dict:
    """Per row of `conf` (name -> confusions (seeds, animals, K, K)): its pooled MCC over the seeds,
    its MCC per animal (the seeds' confusions summed) and its paired difference from `reference`
    (the student without KD of the same seeds), 95% percentile bootstrap over animals; printed too."""
    import numpy as np

    from collar_kd.evaluation.statistics import mcc_from_confusion, paired_difference, summarize_seeds

    rows = {}
    for name, c in conf.items():
        d = paired_difference(c, reference)
        rows[name] = {"pooled_mcc": summarize_seeds(c),
                      "mcc_per_animal": dict(zip(animals, np.round(mcc_from_confusion(c.sum(axis=0)), 3).tolist())),
                      "minus_student_without_kd": {k: d[k] for k in ("difference", "ci_low", "ci_high", "animals_better",
                                                                     "animals_worse")}}
        print(f"  {name:{width}s} {rows[name]['pooled_mcc']['mean']:.3f}  minus no KD {d['difference']:+.3f} "
              f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
    return rows
