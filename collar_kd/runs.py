"""Run directories: written under a temporary name and renamed at the end, read back safely.

Layout of RUN_DIR:
  config.json      the resolved configuration
  manifest.json    versions, seed, data fingerprint, classes, window, model sizes
  metrics.json     per-fold and pooled metrics of teacher / student / student_kd / baseline_rf
  method.json      how student_kd was trained (--method): settings, per-fold and final reports
  report.md        a short human summary; confusion-<model>.png plots
  models/          final models trained on all animals: *.safetensors state dicts, baseline_rf.npz
  folds/           with save_fold_models: every fold's neural models (benchmarks reuse them)
  adaptation.json  in a run written by `collar-kd adapt`: how its student_kd was adapted to a herd
"""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from collar_kd.errors import RunDirError, TrainingDiverged, reading
from collar_kd.evaluation.baseline import ForestBaseline
from collar_kd.models import GRUStudent, ResNetTeacher

log = logging.getLogger("collar_kd")
MODEL_NAMES = ("teacher", "student", "student_kd", "baseline_rf")
NEURAL_MODELS = ("teacher", "student", "student_kd")


TMP_MARK, OLD_MARK = ".tmp-", ".old-"
STALE_AFTER_S = 10.0  # a temporary directory this old whose lock is free belongs to a dead run


def check_separate(out: Path, inputs: dict[str, Path | str | None]) -> None:
    """Refuse an output directory that is, contains or lies inside one of the command's own
    inputs (a run, export or data folder): replacing it would destroy what is being read. An
    input file may sit beside the output, never inside it or be it."""
    out_r = Path(out).resolve()
    for name, path in inputs.items():
        if path is None or str(path) == "synthetic":
            continue
        p = Path(path).resolve()
        if out_r == p:
            raise RunDirError(f"{out}: is the {name} this command reads ({path}); choose another output directory")
        if out_r in p.parents:
            raise RunDirError(f"{out}: contains the {name} this command reads ({path}); choose another output directory")
        if p.is_dir() and p in out_r.parents:
            raise RunDirError(f"{out}: lies inside the {name} this command reads ({path}); choose a directory outside it")


def _lock(path: Path) -> int | None:
    """An exclusive, non-blocking lock on a directory: its fd, or None if someone holds it. The
    kernel drops it when the holder dies, however it dies (SIGKILL included)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def clean_stale(final: Path, own: Path | None = None) -> tuple[list[Path], list[Path]]:
    """Temporary directories beside `final` left by earlier commands: those of dead runs (lock
    free, older than STALE_AFTER_S) are removed, those of live ones returned. Returns
    (removed, live)."""
    removed, live = [], []
    for p in sorted(final.parent.glob(f".{glob.escape(final.name)}{TMP_MARK}*")) + \
            sorted(final.parent.glob(f".{glob.escape(final.name)}{OLD_MARK}*")):
        if p == own or not p.is_dir():
            continue
        try:
            fd = _lock(p)
            young = time.time() - p.stat().st_mtime < STALE_AFTER_S
        except FileNotFoundError:  # finished meanwhile
            continue
        if fd is None or (young and TMP_MARK in p.name):
            live.append(p)
            if fd is not None:
                os.close(fd)
            continue
        shutil.rmtree(p, ignore_errors=True)
        os.close(fd)
        removed.append(p)
    return removed, live


def _identity(path: Path):
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def usual_permissions(directory: Path) -> None:
    """What a directory made with mkdir would get (0777 less the umask), not mkdtemp's 0700."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)


@contextmanager
def atomic_directory(final: Path, force: bool = False, inputs: dict | None = None):
    """Yield a temporary directory beside `final`; rename it into place only if the body succeeds.

    - `inputs`: the command's own input paths by name; `final` may not be, contain or lie in them.
    - The temporary directory is locked while the command runs: a second command writing the
      same `final` is refused at once, and the leftovers of killed runs are recognised (their
      lock is free) and removed.
    - At the end, a `final` that appeared or changed meanwhile is never replaced; the finished
      result is kept beside it under a name that says so.
    - The directory gets the usual permissions (umask), not mkdtemp's owner-only ones.
    """
    final = Path(final)
    check_separate(final, inputs or {})
    if final.exists() and not final.is_dir():
        raise RunDirError(f"{final}: exists and is not a directory")
    if final.exists() and any(final.iterdir()) and not force:
        raise RunDirError(f"{final}: already exists and is not empty (use --force to replace it)")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{TMP_MARK}", dir=final.parent))
    except OSError as e:
        raise RunDirError(f"{final}: cannot create the output directory here ({e.strerror})") from None
    fd = _lock(tmp)
    try:
        removed, live = clean_stale(final, own=tmp)
        for r in removed:
            log.warning(f"removed {r}: left by a collar-kd command that was killed before it could clean up")
        if live:
            raise RunDirError(f"{final}: another collar-kd command is writing it now ({live[0].name}); wait for it to "
                              "finish or choose another output directory")
        usual_permissions(tmp)
        before = _identity(final)
        yield tmp
        if _identity(final) != before:
            kept = final.with_name(f"{final.name}.unsaved-{os.getpid()}")
            tmp.rename(kept)
            raise RunDirError(f"{final}: appeared or changed while this command ran (another program wrote it); it was "
                              f"not replaced. This command's complete result is in {kept}")
        if final.exists():
            trash = final.parent / f".{final.name}{OLD_MARK}{os.getpid()}"
            final.rename(trash)
            tmp.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if fd is not None:
            os.close(fd)


def write_json(path: Path, doc) -> None:
    Path(path).write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: missing (is {path.parent} a complete collar-kd run directory?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None


def build_model(name: str, arch: dict) -> torch.nn.Module:
    n = len(arch["classes"])
    if name == "teacher":
        return ResNetTeacher(n, arch["teacher"]["filters"], arch["teacher"]["kernels"])
    return GRUStudent(n, arch["student"]["hidden"], arch["student"]["head"])


def save_model(model: torch.nn.Module, path: Path) -> None:
    """Save a state dict; a model with a non-finite weight is an error, never an artifact."""
    save_state(model.state_dict(), path)


def save_state(state: dict, path: Path) -> None:
    """save_model for a state dict already taken (a fold's weights, returned by its job)."""
    for name, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise TrainingDiverged(f"{path.name}: weight '{name}' is not finite after training; nothing was saved "
                                   "(check the settings: kd.temperature, learning rates, augmentation)")
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def load_run_models(run_dir: Path) -> tuple[dict, dict]:
    """The final models of a run and the architecture record they were built from."""
    run_dir = Path(run_dir)
    arch = read_json(run_dir / "models" / "models.json")
    models: dict = {name: load_model(run_dir, name)[0] for name in NEURAL_MODELS}
    models["baseline_rf"] = load_forest(run_dir)
    return models, arch


def load_forest(run_dir: Path) -> ForestBaseline:
    rf_path = Path(run_dir) / "models" / "baseline_rf.npz"
    if not rf_path.is_file():
        raise RunDirError(f"{rf_path}: missing; was the run trained with final_models = false?")
    return ForestBaseline.load(rf_path)


def load_model(run_dir: Path, which: str) -> tuple[torch.nn.Module, dict]:
    """One final neural model of a run (teacher, student or student_kd), from its safetensors
    state dict (no pickle), with the architecture record."""
    if which not in NEURAL_MODELS:
        raise RunDirError(f"no model '{which}' (models: {', '.join(NEURAL_MODELS)})")
    arch = read_json(Path(run_dir) / "models" / "models.json")
    path = Path(run_dir) / "models" / f"{which}.safetensors"
    if not path.is_file():
        raise RunDirError(f"{path}: missing; was the run trained with final_models = false?")
    model = build_model(which, arch)
    with reading(path, f"{which} model (safetensors of this run's architecture)"):
        model.load_state_dict(load_file(str(path)))
    model.eval()
    return model, arch

