"""An interrupted `train` loses only the folds it was running: finished folds are kept in
RUN_DIR.unfinished and the same command takes them up, giving the run that was never stopped."""

from __future__ import annotations

import hashlib
import json

import pytest

import collar_kd.pipeline.train_run as train_run
from collar_kd.config import load_config
from collar_kd.pipeline.fold_store import FoldStore
from collar_kd.pipeline.train_run import run_training
from conftest import tiny_config_overrides


REAL_RUN_FOLD = train_run.run_fold


class Stop(Exception):
    """Stands for the run being killed in the middle of a fold."""


def digests(run) -> dict:
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file() and p.name not in ("manifest.json", "report.md")}


def config(settings, **extra):
    return load_config(None, {**tiny_config_overrides(settings), "threads": 1, "save_fold_models": True, **extra})


def count_folds(monkeypatch, stop_at: int | None = None) -> list:
    """Record the folds that train; raise Stop when fold number `stop_at` (0-based, per call) starts."""
    ran, real = [], REAL_RUN_FOLD

    def fold(*args):
        if stop_at is not None and len(ran) == stop_at:
            raise Stop
        ran.append(args[-2])  # the held-out animal
        return real(*args)

    monkeypatch.setattr(train_run, "run_fold", fold)
    return ran


def test_a_stopped_run_keeps_its_folds_and_resumes_to_the_same_run(tiny_synthetic, tmp_path, monkeypatch):
    whole = run_training(config(tiny_synthetic), tmp_path / "whole")
    animals = [f["animal"] for f in whole["folds"]]
    assert len(animals) >= 3

    ran = count_folds(monkeypatch, stop_at=2)
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # no half-written run directory ...
    store = FoldStore.beside(tmp_path / "run")
    assert store.root == tmp_path / "run.unfinished" and store.count() == 2  # ... but the two finished folds
    assert all(p.stat().st_mode & 0o077 for p in store.root.glob("seed-0/fold-*"))  # not owner-only (mkdtemp's)

    ran = count_folds(monkeypatch)
    resumed = run_training(config(tiny_synthetic), tmp_path / "run")
    assert ran == animals[2:]  # only the folds that had not finished
    assert not store.root.exists()  # removed once the run directory is in place
    assert resumed["student_kd"] == whole["student_kd"] and resumed["folds"] == whole["folds"]
    a, b = digests(tmp_path / "whole"), digests(tmp_path / "run")
    assert any("/folds/" in f"/{k}" and k.endswith(".safetensors") for k in a)
    assert a.keys() == b.keys() and [k for k in a if a[k] != b[k]] == []  # fold weights, metrics, final models


def test_folds_of_other_settings_are_trained_again(tiny_synthetic, tmp_path, monkeypatch):
    count_folds(monkeypatch, stop_at=1)
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic), tmp_path / "run")
    assert FoldStore.beside(tmp_path / "run").count() == 1
    ran = count_folds(monkeypatch)
    metrics = run_training(config(tiny_synthetic, seed=5), tmp_path / "run")  # another seed: nothing to take up
    assert len(ran) == len(metrics["folds"])


def test_folds_of_changed_settings_are_named_before_they_are_replaced(tiny_synthetic, tmp_path, monkeypatch, capsys):
    # A kept fold trained again is hours lost when the change was a slip (a benchmark that dropped
    # --teacher-epochs 15 did this): the run says so at once, even quietly, naming what changed.
    count_folds(monkeypatch, stop_at=1)
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic), tmp_path / "run")
    capsys.readouterr()
    ran = count_folds(monkeypatch)
    metrics = run_training(config(tiny_synthetic, **{"teacher.epochs": 3, "kd.temperature": 2.0}), tmp_path / "run")
    assert len(ran) == len(metrics["folds"])
    said = capsys.readouterr().err
    assert said.count("collar-kd: warning: seed 0: 1 finished fold kept in") == 1
    assert "kd.temperature 4.0 -> 2.0; teacher.epochs 2 -> 3;" in said
    warned = json.loads((tmp_path / "run" / "manifest.json").read_text())["warnings"]
    assert [w for w in warned if "teacher.epochs 2 -> 3" in w] == [said.strip().removeprefix("collar-kd: warning: ")]


def test_folds_of_the_same_settings_are_taken_up_without_a_warning(tiny_synthetic, tmp_path, monkeypatch, capsys):
    count_folds(monkeypatch, stop_at=1)
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic), tmp_path / "run")
    capsys.readouterr()
    count_folds(monkeypatch)
    run_training(config(tiny_synthetic), tmp_path / "run")
    assert "warning" not in capsys.readouterr().err
    assert not json.loads((tmp_path / "run" / "manifest.json").read_text())["warnings"]


def test_fresh_trains_every_fold_again(tiny_synthetic, tmp_path, monkeypatch):
    count_folds(monkeypatch, stop_at=1)
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic), tmp_path / "run")
    ran = count_folds(monkeypatch)
    metrics = run_training(config(tiny_synthetic), tmp_path / "run", resume=False)
    assert len(ran) == len(metrics["folds"])


def test_extra_seeds_resume_per_seed(tiny_synthetic, tmp_path, monkeypatch):
    cfg = config(tiny_synthetic, extra_seeds=[1])
    n = len(run_training(cfg, tmp_path / "whole")["folds"])
    count_folds(monkeypatch, stop_at=n + 1)  # all of seed 0's folds and one of seed 1's, then stopped
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic, extra_seeds=[1]), tmp_path / "run")
    store = FoldStore.beside(tmp_path / "run")
    assert store.count() == n + 1 and len(list((store.root / "seed-1").iterdir())) == 1
    ran = count_folds(monkeypatch)
    resumed = run_training(config(tiny_synthetic, extra_seeds=[1]), tmp_path / "run")
    assert len(ran) == n - 1
    whole = (tmp_path / "whole" / "metrics.json").read_text()
    assert (tmp_path / "run" / "metrics.json").read_text() == whole and resumed["seeds"]["seeds"] == [0, 1]


def test_a_damaged_fold_is_trained_again(tiny_synthetic, tmp_path, monkeypatch):
    count_folds(monkeypatch, stop_at=1)
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic), tmp_path / "run")
    store = FoldStore.beside(tmp_path / "run")
    (kept,) = store.root.glob("seed-0/fold-*")
    (kept / "predictions.npz").write_bytes(b"not an npz")
    ran = count_folds(monkeypatch)
    metrics = run_training(config(tiny_synthetic), tmp_path / "run")
    assert len(ran) == len(metrics["folds"])


def test_the_cli_says_where_the_folds_are_and_fresh_trains_them_again(tiny_synthetic, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from collar_kd.cli import app
    from conftest import tiny_toml

    args = ["train", "--data", "synthetic", "--config", str(tiny_toml(tiny_synthetic, tmp_path)), "--out", str(tmp_path / "run")]
    count_folds(monkeypatch, stop_at=1)
    r = CliRunner().invoke(app, [*args, "-q"])  # quiet too: where the work is kept is part of the error
    assert r.exit_code != 0 and not (tmp_path / "run").exists()
    assert "".join(r.output.split("\n")).count(f"finished folds kept in {tmp_path / 'run.unfinished'} (1)") == 1
    ran = count_folds(monkeypatch)
    r = CliRunner().invoke(app, [*args, "--fresh", "-q"])
    assert r.exit_code == 0 and len(ran) == 3 and not (tmp_path / "run.unfinished").exists()


def test_a_second_command_on_the_same_out_cannot_discard_the_first_ones_folds(tiny_synthetic, tmp_path, monkeypatch):
    from collar_kd.errors import RunDirError
    from collar_kd.runs import atomic_directory

    count_folds(monkeypatch, stop_at=1)
    with pytest.raises(Stop):
        run_training(config(tiny_synthetic), tmp_path / "run")
    store = FoldStore.beside(tmp_path / "run")
    with atomic_directory(tmp_path / "run"):  # a first command is writing `run` now
        with pytest.raises(RunDirError, match="another collar-kd command is writing it now"):
            run_training(config(tiny_synthetic), tmp_path / "run", resume=False)
        assert store.count() == 1

