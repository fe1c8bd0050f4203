"""Teacher epoch selection on an inner leave-animals-out split (teacher.selection): the validation
animals are training animals of the fold, never the held-out one; "checkpoint" keeps the epoch
with the best validation MCC; "epoch" retrains on every training animal up to that epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import collar_kd.distill.teachers as teachers
from collar_kd.cli import app
from collar_kd.config import load_config
from collar_kd.distill.teachers import TeacherPool, TeacherSpec
from collar_kd.errors import ConfigError
from collar_kd.training.loop import class_weights

from conftest import tiny_toml


def pool_data(n_animals=5, per=12, t=16, seed=0):
    rng = np.random.default_rng(seed)
    animals = np.repeat(np.array([f"cow{i}" for i in range(n_animals)]), per)
    y = np.tile(np.arange(per) % 3, n_animals)
    x = rng.normal(0, 0.3, (len(y), t, 3)).astype(np.float32)
    x[:, :, 0] += y[:, None]  # learnable
    return x, y, animals


def cfg_for(selection, epochs=4, validation=2):
    return load_config(None, {"teacher.filters": [4, 4, 4], "teacher.epochs": epochs, "teacher.batch_size": 16,
                              "teacher.selection": selection, "teacher.validation_animals": validation, "threads": 1})


def test_checkpoint_is_the_epoch_with_the_best_validation_mcc(monkeypatch):
    x, y, animals = pool_data()
    scripted = iter([0.1, 0.5, 0.3, 0.5])  # epoch 2 is best (the first of the ties)
    monkeypatch.setattr(teachers, "matthews_corrcoef", lambda a, b: next(scripted))
    cfg = cfg_for("checkpoint")
    pool = TeacherPool(cfg, x, y, 3, None, "t", animals=animals)
    spec = TeacherSpec("resnet", 0)
    model = pool.get(spec)
    sel = pool.selection["resnet:0"]
    assert sel["epoch"] == 2 and sel["validation_mcc_per_epoch"] == [0.1, 0.5, 0.3, 0.5] and sel["of_epochs"] == 4
    # The checkpoint is the teacher trained on the other animals, stopped after epoch 2 (same schedule).
    inner = np.isin(animals, sel["validation_animals"])
    plain = TeacherPool(cfg_for("none"), x[~inner], y[~inner], 3, None, "t")
    again = plain._fit(spec, x[~inner], y[~inner], class_weights(y[~inner], 3, cfg.class_weighting), stop_after=2)
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_epoch_mode_retrains_on_every_training_animal_up_to_the_chosen_epoch(monkeypatch):
    x, y, animals = pool_data()
    scripted = iter([0.2, 0.1, 0.6, 0.4])  # epoch 3
    monkeypatch.setattr(teachers, "matthews_corrcoef", lambda a, b: next(scripted))
    pool = TeacherPool(cfg_for("epoch"), x, y, 3, None, "t", animals=animals)
    spec = TeacherSpec("resnet", 0)
    model = pool.get(spec)
    assert pool.selection["resnet:0"]["epoch"] == 3
    again = TeacherPool(cfg_for("none"), x, y, 3, None, "t")._fit(spec, x, y, None, stop_after=3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_validation_windows_are_the_validation_animals_and_training_skips_them(monkeypatch):
    x, y, animals = pool_data()
    x[:, 0, 1] = np.arange(len(x))  # a window's index, to find its animal
    judged, trained = [], []
    real_logits, real_fit = teachers.logits_in_training, teachers.fit
    monkeypatch.setattr(teachers, "logits_in_training", lambda m, xv: judged.append(xv[:, 0, 1].astype(int)) or real_logits(m, xv))
    monkeypatch.setattr(teachers, "fit", lambda m, xt, *a, **k: trained.append(xt[:, 0, 1].astype(int)) or real_fit(m, xt, *a, **k))
    pool = TeacherPool(cfg_for("checkpoint"), x, y, 3, None, "t", animals=animals)
    pool.get(TeacherSpec("resnet", 0))
    val = set(pool.selection["resnet:0"]["validation_animals"])
    assert len(val) == 2 and val <= set(animals)
    assert len(judged) == 4 and all(set(animals[j]) == val for j in judged)
    assert len(trained) == 1 and not set(animals[trained[0]]) & val


def test_too_few_training_animals_keep_the_last_epoch():
    x, y, animals = pool_data(n_animals=2)
    pool = TeacherPool(cfg_for("checkpoint", validation=2), x, y, 3, None, "t", animals=animals)
    pool.get(TeacherSpec("resnet", 0))
    assert pool.selection["resnet:0"]["mode"] == "none"


def test_cross_validation_never_validates_on_the_held_out_animal(tiny_synthetic, tmp_path):
    cfg = tiny_toml(tiny_synthetic, tmp_path)
    cfg.write_text(cfg.read_text().replace("[teacher]\n", "[teacher]\nselection = \"checkpoint\"\nvalidation_animals = 1\n"))
    r = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-final", "-q",
                                 "--teacher-mixup", "0.2", "--kd-mixup", "0.3"])
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["teacher"]["mixup"] == 0.2 and config["kd"]["mixup"] == 0.3 and config["teacher"]["selection"] == "checkpoint"
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    everyone = {f["animal"] for f in metrics["folds"]}
    for f in metrics["folds"]:
        sel = method["folds"][f["key"]]["teacher_selection"]["resnet:0"]
        assert sel["mode"] == "checkpoint" and len(sel["validation_animals"]) == 1
        assert f["animal"] not in sel["validation_animals"] and set(sel["validation_animals"]) <= everyone - {f["animal"]}


@pytest.mark.parametrize("key,value", [("teacher.selection", "best"), ("teacher.validation_animals", 0),
                                       ("teacher.validation_animals", 1.5)])
def test_bad_selection_settings_are_named(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, {key: value})


def test_bad_selection_exits_2_from_the_cli(tiny_synthetic, tmp_path):
    cfg = tiny_toml(tiny_synthetic, tmp_path)
    cfg.write_text(cfg.read_text().replace("[teacher]\n", "[teacher]\nselection = \"best\"\n"))
    r = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2 and "teacher.selection" in r.output and not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag,value,name", [("--teacher-selection", "best", "teacher.selection"),
                                             ("--teacher-mixup", "-1", "teacher.mixup"), ("--kd-mixup", "20", "kd.mixup")])
def test_bad_recipe_flags_exit_2_naming_the_setting(tiny_synthetic, tmp_path, flag, value, name):
    cfg = tiny_toml(tiny_synthetic, tmp_path)
    r = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), flag, value, "-q"])
    assert r.exit_code == 2 and name in r.output and not (tmp_path / "run").exists()
