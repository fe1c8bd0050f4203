"""A "gru" teacher: the student's own network, trained without KD on the student's schedule, so
that an ensemble of students (other seeds) can teach one student."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.config import load_config
from collar_kd.distill.losses import make_loss
from collar_kd.config import KDConfig
from collar_kd.distill.teachers import TeacherPool, TeacherSpec, parse_teacher_spec
from collar_kd.errors import ConfigError
from collar_kd.models import GRUStudent
from collar_kd.training.loop import fit

from conftest import tiny_toml


def data(n=48, t=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(0, 0.3, (n, t, 3)).astype(np.float32)
    x[:, :, 0] += y[:, None]
    return x, y


def test_a_gru_teacher_is_the_student_network_on_the_student_schedule():
    x, y = data()
    cfg = load_config(None, {"student.hidden": 6, "student.head": 5, "student.epochs": 3, "student.batch_size": 16,
                             "student.lr": 0.01, "teacher.epochs": 1, "teacher.lr": 1e-5, "threads": 1})
    model = TeacherPool(cfg, x, y, 3, None, "t").get("gru:4")
    assert isinstance(model, GRUStudent) and model.hidden == 6 and model.head == 5
    torch.manual_seed(4)
    again = GRUStudent(3, 6, 5)
    history = fit(again, x, y, make_loss(KDConfig(loss="ce")), 3, 16, 0.01, 4, weights=None, augment=cfg.augmentation())
    assert len(history) == 3  # the student's 3 epochs, not the teacher's 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_the_no_kd_student_is_the_gru_teacher_of_the_run_seed_bit_for_bit():
    from collar_kd.pipeline.train_run import train_plain_student
    from collar_kd.progress import Quiet
    x, y = data()
    cfg = load_config(None, {"student.hidden": 6, "student.head": 5, "student.epochs": 2, "student.batch_size": 16,
                             "augment_rotation_deg": 30.0, "seed": 3, "threads": 1})
    w = torch.tensor([1.0, 2.0, 0.5])
    student = train_plain_student(cfg, x, y, 3, w, "t", Quiet())
    trained = TeacherPool(cfg, x, y, 3, w, "t").get("gru:3")  # what adopting saves
    for k, v in trained.state_dict().items():
        assert torch.equal(v, student.state_dict()[k]), k
    pool = TeacherPool(cfg, x, y, 3, w, "t")
    assert pool.adopt_no_kd_student(student) and not pool.seconds  # nothing recorded until a method asks
    assert pool.get("gru:3") is student and pool.seconds[TeacherSpec("gru", 3)] == 0.0
    for changed in ({"teacher.mixup": 0.2}, {"teacher.selection": "epoch"}):  # the pool would train it otherwise
        other = load_config(None, {"student.hidden": 6, "student.head": 5, "seed": 3, **changed})
        assert not TeacherPool(other, x, y, 3, w, "t").adopt_no_kd_student(student)


def test_gru_teachers_are_named_and_feed_refuses_them():
    assert parse_teacher_spec("gru:2") == TeacherSpec("gru", 2)
    assert parse_teacher_spec("gru", run_seed=7) == TeacherSpec("gru", 7)
    with pytest.raises(ConfigError, match="'lstm:1' is not 'arch:seed'.*gru"):
        parse_teacher_spec("lstm:1")
    x, y = data()
    cfg = load_config(None, {"student.hidden": 4, "student.head": 4, "student.epochs": 1, "threads": 1})
    with pytest.raises(ConfigError, match="'gru:1' is a GRU: it has no convolutional feature map"):
        TeacherPool(cfg, x, y, 3, None, "t").features("gru:1")


def test_an_ensemble_of_gru_teachers_trains_a_student_end_to_end(tiny_synthetic, tmp_path):
    cfg = tiny_toml(tiny_synthetic, tmp_path)
    cfg.write_text(cfg.read_text() + '[method]\nname = "ensemble"\nteachers = ["gru:1", "gru:2"]\n')
    r = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-final", "-q"])
    assert r.exit_code == 0, r.output
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    fold = next(iter(method["folds"].values()))
    assert fold["teachers"] == ["gru:1", "gru:2"] and fold["teaching"] == "cached", fold
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["kd_teacher"]["mcc"] is not None  # the averaged ensemble is judged beside the student
