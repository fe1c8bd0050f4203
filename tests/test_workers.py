"""Folds as Ray tasks: the same run directory as one after another, a failing fold named, a clear
refusal without Ray. Ray starts in a few seconds, so these tests are few."""

from __future__ import annotations

import hashlib
import sys

import pytest

from collar_kd.config import load_config
from collar_kd.pipeline.fold_store import FoldStore
from collar_kd.pipeline.train_run import run_training
from collar_kd.pipeline.workers import JobFailed, Workers, run_jobs
from collar_kd.progress import Quiet
from conftest import tiny_config_overrides

pytest.importorskip("ray")


def digests(run) -> dict:
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_two_workers_give_the_same_run_as_one(tiny_synthetic, tmp_path, monkeypatch):
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "threads": 1, "extra_seeds": [1], "save_fold_models": True})
    one = run_training(cfg, tmp_path / "one", workers=Workers(1))
    kept, save = [], FoldStore.save

    def recording_save(self, seed, key, print_, result, *rest):
        kept.append((seed, key))
        save(self, seed, key, print_, result, *rest)

    monkeypatch.setattr(FoldStore, "save", recording_save)
    two = run_training(load_config(None, {**tiny_config_overrides(tiny_synthetic), "threads": 1, "extra_seeds": [1], "save_fold_models": True}),
                       tmp_path / "two", workers=Workers(2))
    # the driver kept every fold of both seeds as its task returned (tests/test_fold_store.py: resuming)
    assert sorted(kept) == sorted((s, f["key"]) for s in (0, 1) for f in one["folds"])
    assert not FoldStore.beside(tmp_path / "two").root.exists()
    assert one["student_kd"]["mcc"] == two["student_kd"]["mcc"]
    a, b = digests(tmp_path / "one"), digests(tmp_path / "two")
    assert a.keys() == b.keys() and any(k.endswith(".safetensors") and "/folds/" in f"/{k}" for k in a)
    assert [k for k in a if a[k] != b[k]] == []  # metrics.json, method.json, every fold's and final model file


def test_a_failing_fold_is_named(tmp_path):
    def job(shared, i):
        if i == 1:
            raise ValueError("boom")
        return shared + i

    with pytest.raises(RuntimeError, match=r"fold 2 \(held-out animal cow7\) failed on a Ray worker: ValueError: boom"):
        run_jobs(job, [(0,), (1,), (2,)], (10,), ["fold 1 (held-out animal cow3)", "fold 2 (held-out animal cow7)",
                                                  "fold 3 (held-out animal cow9)"], Workers(2), Quiet())
    # one after another, too; and bad input (a CollarKDError) is named as such
    from collar_kd.errors import DataError

    def bad(shared, i):
        raise DataError("a.csv", "no such class", row=3)

    with pytest.raises(JobFailed, match=r"fold 1 \(held-out animal cow3\): a.csv, row 3: no such class"):
        run_jobs(bad, [(0,)], (0,), ["fold 1 (held-out animal cow3)"], Workers(1), Quiet())


def test_without_ray_more_workers_are_refused_with_the_install_hint(tiny_synthetic, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from collar_kd.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    r = CliRunner().invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "run"), "--workers", "2",
                                 "--teacher-epochs", "1", "--student-epochs", "1", "-q"])
    assert r.exit_code == 2 and "pip install 'collar-kd[cluster]'" in r.output
    assert not (tmp_path / "run").exists()
    r = CliRunner().invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "run"), "--workers", "0", "-q"])
    assert r.exit_code == 2 and "--workers" in r.output
