"""Shared by the benchmarks: where the shared collar data is and how to say it is missing."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from collar_kd.paths import WASP_DATASET

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / "work"  # large intermediate runs, git-ignored
# Fold teachers trained by benchmarks and pilots that start from a committed result rather than a
# saved run (TeacherPool's directory cache): bench/data_free.py and bench/pilots/kd_variants.py.
FOLD_TEACHERS = WORK / "fold-teachers"
# The data-free method as DAFL published it: every addition of collar-kd's own switched off (the
# method's defaults switch most of them on since 2026-12-05; docs/methods.md, "data-free: DAFL").
DAFL_AS_PUBLISHED = {"method.name": "data-free", "method.bn_statistics_weight": 0.0, "method.gravity_weight": 0.0,
                     "method.jerk_weight": 0.0, "method.class_conditional": False, "method.adversarial_steps": 0,
                     "method.teaching": "cached", "method.teachers": ["resnet"]}  # one teacher, as DAFL has
# Settings of a bench-accuracy result that say nothing about its fold teachers' data or training:
# the distilled student's method and the run's bookkeeping.
NOT_THE_TEACHERS = ("method", "unlabelled", "extra_seeds", "transductive", "transductive_epochs", "transductive_lr_scale",
                    "final_models", "save_fold_models", "seed", "threads", "device")


def require_wasp() -> Path:
    if not (WASP_DATASET / "index.csv").is_file():
        print(
            f"bench: the shared collar dataset is not at {WASP_DATASET}\n"
            "       (it is not part of this repository: put ../shared/datasets/wasp_cow_walking beside the project).\n"
            "       Nothing was measured and no result file was written.",
            file=sys.stderr,
        )
        sys.exit(2)
    return WASP_DATASET


def machine() -> dict:
    """What a result was measured on, the CPU and the kernels PyTorch picked for it included: the
    same code, seed and settings trained the ResNet teacher identically twice on one machine but
    not as in an earlier session's accuracy.json (its GRU students came out identical), and the
    machine was the one thing the result files did not say (docs/methods.md, 2026-12-05)."""
    import torch

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
            "cpu": cpu_model(), "torch": torch.__version__, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or None


def write_result(name: str, doc: dict) -> Path:
    path = RESULTS / name
    write_json_atomically(path, doc, indent=2)
    return path


class WorkerPool(ProcessPoolExecutor):
    """ProcessPoolExecutor, but leaving its `with` block on an error (a job that failed, Ctrl-C)
    cancels the jobs not yet started and stops the running ones. The standard executor runs every
    job submitted before it lets the error through: on 2026-12-05 a bench/data_free.py whose first
    fold failed went on for 20 minutes, failing fold after fold, before it said anything."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            # CPython's own attributes (Python 3.14 adds terminate_workers(); this project runs 3.11).
            running, manager = list((self._processes or {}).values()), self._executor_manager_thread
            self.shutdown(wait=False, cancel_futures=True)  # first, or they end as failed rather than cancelled
            for process in running:
                process.terminate()
            if manager is not None:
                manager.join()  # it sees the stopped workers, fails their jobs and ends
            return False
        return super().__exit__(exc_type, exc, tb)


def worker_pool(jobs: int) -> WorkerPool:
    """Processes for a benchmark's folds that end when the benchmark ends, however it ends. Started
    by spawn, since torch and fork do not mix. A benchmark killed outright (SIGKILL, or SIGTERM,
    which runs no cleanup) leaves its pool's workers running, orphaned, until their jobs are done:
    on 2026-12-05 two of a stopped bench/data_free.py computed for 70 more minutes and slowed
    every run after it. So each worker watches its parent and exits once it is gone."""
    return WorkerPool(max_workers=max(1, jobs), mp_context=multiprocessing.get_context("spawn"),
                      initializer=end_with_parent, initargs=(os.getpid(),))


def end_with_parent(parent: int, every_s: float = 0.5) -> None:
    """In a worker process: exit as soon as process `parent` is no longer this process's parent
    (an orphan is re-parented, so its parent id changes). A thread that polls, since it works
    wherever Python does; Linux's PR_SET_PDEATHSIG would not be portable."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(3)  # no cleanup to run: the results this worker computes have nobody to go to

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def code_fingerprint() -> str:
    """The collar_kd package's code (every file of it): a kept intermediate result is taken up
    only by the very code that computed it, not merely the same version number."""
    import collar_kd

    h = hashlib.sha256()
    root = Path(collar_kd.__file__).resolve().parent
    for f in sorted(root.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def write_json_atomically(path: Path, doc: dict, indent: int | None = None) -> None:
    """Whole or absent: written beside `path` and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(doc, indent=indent) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def result_overrides(settings: dict, root: Path, keep_method: bool = False) -> dict:
    """A bench-accuracy result's recorded settings as dotted config overrides (one thread, the data
    at `root`), less what is not its teachers' (NOT_THE_TEACHERS) unless keep_method, which keeps
    the distilled student's method (its options as method.* keys)."""
    flat = {}
    for key, value in settings.items():
        if key in NOT_THE_TEACHERS and not (keep_method and key == "method"):
            continue
        if key == "method":
            flat.update({f"method.{k}": v for k, v in {**value, **value.get("options", {})}.items() if k != "options"})
        elif isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return {**flat, "data.path": str(root), "threads": 1}


def fold_model(run: Path, key: str, name: str, arch: dict):
    """One fold model a bench-accuracy run kept (teacher, student or student_kd; run/folds/key/),
    in eval mode. `arch` gives the classes, window and the teacher's and student's sizes."""
    from safetensors.torch import load_file

    from collar_kd.runs import build_model

    model = build_model(name, arch)
    model.load_state_dict(load_file(str(run / "folds" / key / f"{name}.safetensors")))
    return model.eval()


def result_confusions(doc: dict, model: str):
    """(seeds, animals, K, K) of one model of a bench-accuracy result file."""
    import numpy as np

    return np.array([f["confusion_by_seed"][model] for f in doc["per_fold"]]).transpose(1, 0, 2, 3)


def bootstrap_mean(values, n_boot: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean over animals (animals resampled)."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, len(values), size=(n_boot, len(values)))
    lo, hi = np.quantile(values[draws].mean(axis=1), [0.025, 0.975])
    return float(lo), float(hi)


def fold_windows(cfg, animal: str):
    """The windows bench-accuracy's leave-one-animal-out cuts from cfg's data, the held-out mask
    of `animal` and its fold key (as collar_kd.pipeline.train_run.cross_validate names it)."""
    import numpy as np

    from collar_kd.pipeline.train_run import fold_key

    win = all_windows(cfg)
    animals = sorted(np.unique(win.animal).tolist())
    return win, win.animal == animal, fold_key(animals.index(animal), animal)


_LAST_WINDOWS: dict = {}  # the windows of the last data set asked for, by what they are cut from


def all_windows(cfg):
    """Every window of cfg's data, cut once per process and data set: a pilot or benchmark asks for
    the same recordings for every fold it runs (reading and windowing the WASP collars is about a
    second each time). The windows are shared: callers take subsets and never write into them."""
    from collar_kd.data import load_recordings, windows_for

    key = json.dumps({"data": cfg.to_dict()["data"], "seed": cfg.seed}, sort_keys=True, default=str)
    if key not in _LAST_WINDOWS:
        rec, cmap = load_recordings(cfg.data, seed=cfg.seed)
        _LAST_WINDOWS.clear()
        _LAST_WINDOWS[key] = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
    return _LAST_WINDOWS[key]


@dataclass
class FoldSplit:
    """One leave-one-animal-out fold of bench-accuracy: its training windows, the held-out
    animal's windows and labels, and what a student and its quantizer need to know."""

    key: str
    train: object  # collar_kd.data.windows.Windows
    xt: object
    yt: object
    n_classes: int
    arch: dict

    @property
    def labels(self) -> range:
        return range(self.n_classes)


def fold_split(cfg, animal: str) -> FoldSplit:
    """fold_windows, split into the fold's training and held-out parts."""
    win, test, key = fold_windows(cfg, animal)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length}
    return FoldSplit(key, win.subset(~test), win.x[test], win.y[test], len(win.classes), arch)



def kept_student(cfg, fold: FoldSplit, path: Path):
    """A fold's saved distilled student (a `student_kd.safetensors` that a run or a pilot kept), in
    eval mode, with the architecture dict the quantizer takes."""
    from safetensors.torch import load_file

    from collar_kd.runs import build_model

    arch = {**fold.arch, "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
    student = build_model("student_kd", arch)
    student.load_state_dict(load_file(str(path)))
    return student.eval(), arch


def requantize_kept_students(name: str, seeds: list[int], variants: dict, pairs: tuple, bench_row: str, out: str,
                             about: dict) -> dict:
    """The pilots that quantize bench-accuracy's kept students again (bench/work/accuracy-NAME-seed-S/
    folds/KEY/student_kd.safetensors) in several ways and simulate each fold's held-out animal
    bit-exactly. `variants`: row -> f(student, x_train, arch, cfg) -> QuantizedStudent. The row
    `bench_row` must be bench-accuracy's own 8-bit row, fold for fold (checked and recorded).
    Writes bench/results/OUT: per fold confusion matrices, agreement with the float model and flash;
    pooled MCC per seed; `pairs`' paired differences over seeds and animals (95% bootstrap)."""
    import numpy as np
    import torch
    from sklearn.metrics import confusion_matrix

    from collar_kd.config import load_config
    from collar_kd.evaluation.statistics import paired_difference, pooled_mcc_per_seed
    from collar_kd.sim import FixedPointSimulator
    from collar_kd.training.loop import predict_logits
    from collar_kd.verify.measure import estimate_footprint

    torch.set_num_threads(1)
    root = require_wasp()
    ref = json.loads((RESULTS / f"accuracy-{name}.json").read_text())
    rows = ("float", *variants)
    started = time.time()
    per_seed, conf = {}, {r: [] for r in rows}
    for seed in seeds:
        cfg = load_config(None, {**result_overrides(ref["settings"], root, keep_method=True), "seed": seed})
        folds = []
        for f in ref["per_fold"]:
            t0 = time.time()
            fold = fold_split(cfg, f["animal"])
            student, arch = kept_student(cfg, fold, WORK / f"accuracy-{name}-seed-{seed}" / "folds" / fold.key / "student_kd.safetensors")
            pred, flash = {"float": predict_logits(student, fold.xt).argmax(1)}, {}
            for row, make in variants.items():
                q = make(student, fold.train.x, arch, cfg)
                pred[row] = FixedPointSimulator(q).run(q.quantize_input(fold.xt)).classes
                flash[row] = estimate_footprint(q)["flash_bytes"]
            folds.append({"animal": f["animal"], "key": fold.key,
                          "agreement_with_float": {r: round(float(np.mean(pred[r] == pred["float"])), 4) for r in variants},
                          "estimated_flash_bytes": flash,
                          "confusion": {r: confusion_matrix(fold.yt, pred[r], labels=fold.labels).tolist() for r in rows},
                          "seconds": round(time.time() - t0, 1)})
            print(f"seed {seed} {f['animal']}: agreement with float {folds[-1]['agreement_with_float']}", flush=True)
        at = ref["seeds"].index(seed)
        bench = {f["animal"]: f["confusion_by_seed"]["student_kd_fxp8"][at] for f in ref["per_fold"]}
        per_seed[seed] = {"per_fold": folds, f"{bench_row}_equals_bench": all(f["confusion"][bench_row] == bench[f["animal"]]
                                                                             for f in folds)}
        for r in rows:
            conf[r].append([f["confusion"][r] for f in folds])
    conf = {r: np.array(c) for r, c in conf.items()}
    pooled = {r: [round(float(v), 4) for v in pooled_mcc_per_seed(c)] for r, c in conf.items()}
    paired = {}
    for a, b in pairs:
        d = paired_difference(conf[a], conf[b])
        paired[f"{a} - {b}"] = {k: round(d[k], 4) if isinstance(d[k], float) else d[k]
                                for k in ("difference", "ci_low", "ci_high", "animals_better", "animals_worse")}
    agreement = {r: round(float(min(f["agreement_with_float"][r] for s in per_seed.values() for f in s["per_fold"])), 4)
                 for r in variants}
    summary = {"pooled_mcc": pooled, "pooled_mcc_mean": {r: round(float(np.mean(v)), 4) for r, v in pooled.items()},
               "paired_differences": paired, "lowest_agreement_with_float": agreement,
               "estimated_flash_bytes_max": {r: int(np.max([f["estimated_flash_bytes"][r] for s in per_seed.values()
                                                            for f in s["per_fold"]])) for r in variants},
               f"{bench_row}_equals_bench": {s: v[f"{bench_row}_equals_bench"] for s, v in per_seed.items()}}
    print(json.dumps(summary, indent=1))
    write_result(out, {"seeds": seeds, "reference": f"accuracy-{name}.json", **about, **summary, "per_seed": per_seed,
                       "wall_time_s": round(time.time() - started, 1), "machine": machine()})
    return summary
