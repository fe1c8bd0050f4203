"""The CLI end to end on tiny synthetic data: train, info, evaluate; determinism; exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.config import load_config
from collar_kd.data.synthetic import SyntheticSettings, generate, write_csv
from collar_kd.runs import load_run_models
from collar_kd.pipeline.train_run import run_training
from conftest import tiny_config_overrides, tiny_toml

runner = CliRunner()
MODELS = ("teacher", "student", "student_kd", "baseline_rf")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    settings = tmp / "s.json"
    settings.write_text(json.dumps({"animals": 3, "bouts_per_class": 1, "bout_seconds": [8, 10], "sample_rate": 10.0}))
    cfg = tiny_toml(settings, tmp)
    out = tmp / "run"
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_a_complete_run_directory(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.json", "manifest.json", "metrics.json", "report.md", "models", "method.json"} <= names
    assert "cache" not in names  # soft labels live in memory for the fold that uses them
    assert {f"confusion-{m}.png" for m in MODELS} <= names
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for m in MODELS:
        assert {"mcc", "accuracy", "macro_f1", "confusion"} <= set(metrics[m])
        assert -1.0 <= metrics[m]["mcc"] <= 1.0
    assert len(metrics["folds"]) == 3
    assert all("test_support" in f for f in metrics["folds"])
    manifest = json.loads((trained_run / "manifest.json").read_text())
    assert len(manifest["data_fingerprint"]) == 64 and manifest["seed"] == 0
    assert "wall_time_s" in manifest and "wall_time_s" not in metrics  # metrics: a function of data, settings, seed
    models, arch = load_run_models(trained_run)
    assert arch["student"]["hidden"] == 8 and arch["student"]["params"] == models["student_kd"].param_count()


def test_info(trained_run):
    r = runner.invoke(app, ["info", str(trained_run)])
    assert r.exit_code == 0, r.output
    assert "student_kd" in r.output and "parameters" in r.output


def test_evaluate_on_new_animals_and_single_class(trained_run, tmp_path):
    r = runner.invoke(app, ["evaluate", str(trained_run), "--data", "synthetic", "--out", str(tmp_path / "ev"), "-q"])
    # default synthetic settings (25 Hz, resampled to the model's 10 Hz); seed = run seed + 1: new animals
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(MODELS) <= set(m) and m["window"]["length"] == 20
    # a new farm with one behaviour only, as generic CSV at another rate: accuracy still reported
    rec = generate(SyntheticSettings(animals=2, bouts_per_class=1, bout_seconds=(6, 8), sample_rate=25.0, classes=("walking",)), seed=9)
    csv = tmp_path / "farm.csv"
    write_csv(rec, csv)
    r = runner.invoke(app, ["evaluate", str(trained_run), "--data", str(csv), "--csv-rate", "25", "--out", str(tmp_path / "ev2"), "-q"])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "ev2" / "metrics.json").read_text())
    for name in MODELS:
        assert m[name]["mcc"] is None and 0.0 <= m[name]["accuracy"] <= 1.0
    assert (tmp_path / "ev2" / "confusion-student_kd.png").is_file()


def test_same_seed_same_metrics(tiny_synthetic, tmp_path):
    ov = {**tiny_config_overrides(tiny_synthetic), "final_models": False}
    a = run_training(load_config(None, ov), tmp_path / "a")
    b = run_training(load_config(None, ov), tmp_path / "b")
    for m in MODELS:
        assert a[m]["confusion"] == b[m]["confusion"] and a[m]["mcc"] == b[m]["mcc"]
    # The metrics document is a pure function of data, settings and seed: timings live in the manifest.
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()


def test_bad_input_exits_2_and_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("animal,timestamp,ax,ay,az,label\ncow,0,1,x,1,rest\n")
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--data", str(bad), "--csv-rate", "10", "--out", str(out)])
    assert r.exit_code == 2
    assert f"{bad}, row 2, column 'ay'" in r.output
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_bad_setting_in_a_config_file_exits_2_naming_it(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[kd]\nteacher_correction = "flip"\n')
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "kd.teacher_correction" in r.output and not out.exists()


def test_failure_midway_leaves_no_half_written_run(tiny_synthetic, tmp_path, monkeypatch):
    import collar_kd.pipeline.train_run as run_mod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_mod, "plot_confusion", boom)
    with pytest.raises(RuntimeError):
        run_training(load_config(None, tiny_config_overrides(tiny_synthetic)), tmp_path / "run")
    # no run directory and no temporary one; only the finished folds, kept for the next try
    assert sorted(tmp_path.iterdir()) == sorted([tiny_synthetic, tmp_path / "run.unfinished"])


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--out", "X", "--cv", "kfold"], "cv: must be 'loao' or 'none'"),
        (["train", "--out", "X", "--format", "parquet"], "data.format: must be one of"),
        (["train", "--out", "X", "--data", "nowhere.csv", "--csv-rate", "10"], "nowhere.csv: no such file"),
        (["train", "--out", "X", "--data", "x.csv"], "csv_sample_rate"),
        (["train", "--out", "X", "--window", "ten"], "window: 'ten'"),
        (["train", "--out", "X", "--baseline-forest", "oak"], "baseline_forest: must be one of forest, turned_forest"),
        (["train", "--out", "X", "--kd-start", "teacher"], "kd.start: must be one of fresh, no_kd_student"),
        (["train", "--out", "X", "--kd-start-epochs", "-3"], "kd.start_epochs: a whole number of epochs"),
        (["train", "--out", "X", "--kd-epochs", "-3"], "kd.epochs: a whole number of epochs"),
        (["train", "--out", "X", "--kd-qat-epochs", "-1"], "kd.qat_epochs: a whole number of epochs"),
        (["train", "--out", "X", "--kd-transfer", "mixup", "--kd-transfer-teachers", "resnet,tree"],
         "kd.transfer_teachers: 'tree' is not"),
        (["train", "--out", "X", "--kd-transfer", "mixup", "--kd-transfer-teachers", "gru", "--method", "speq"],
         "kd.transfer_teachers: method 'speq' learns from no transfer set"),
        (["info", "no-such-run"], "manifest.json: missing"),
        (["train"], "Missing option"),
    ],
)
def test_usage_and_input_errors_exit_2(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert needle in r.output


def test_an_unknown_kd_loss_is_refused_before_anything_trains(tiny_synthetic, tmp_path, monkeypatch):
    # It used to surface inside the first fold, once that fold's teacher had trained (hours on real collars).
    import collar_kd.pipeline.train_run as run_mod

    def no_training(*args, **kwargs):
        raise AssertionError("a model was trained before kd.loss was checked")

    monkeypatch.setattr(run_mod, "train_all", no_training)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"data": {"synthetic_settings": str(tiny_synthetic)}, "kd": {"loss": "kl-div"}}))
    r = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2, r.output
    assert "kd.loss: unknown loss 'kl-div' (known: ce, cosine, kd)" in r.output and "fold" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([tiny_synthetic.name, "c.json"])


def test_existing_run_dir_is_refused_without_force(trained_run):
    r = runner.invoke(app, ["train", "--out", str(trained_run), "-q"])
    assert r.exit_code == 2 and "already exists" in r.output


def test_extra_seeds_give_spread_and_paired_intervals(tiny_synthetic, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"data": {"synthetic_settings": str(tiny_synthetic)}, "teacher": {"epochs": 1, "filters": [4, 4, 4]},
                               "student": {"epochs": 2, "hidden": 8, "head": 8}, "rf_trees": 5, "final_models": False}))
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(out), "--extra-seed", "1", "--extra-seed", "2", "-q"])
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    st = metrics["seeds"]
    assert st["seeds"] == [0, 1, 2]
    for m in MODELS:
        v = st["pooled_mcc"][m]
        assert len(v["per_seed"]) == 3 and v["min"] - 1e-12 <= v["mean"] <= v["max"] + 1e-12
        assert v["per_seed"][0] == pytest.approx(metrics[m]["mcc"])  # the first seed is the run's own
    d = st["paired_differences"]["student_kd - student"]
    assert d["ci_low"] <= d["difference"] <= d["ci_high"]
    steady = st["paired_steadiness"]["student_kd - student"]
    assert steady["ci_low"] <= steady["difference"] <= steady["ci_high"]
    assert steady["spread_a"] == pytest.approx(st["seed_spread_per_animal"]["student_kd"])
    report = (out / "report.md").read_text()
    assert "Over 3 training seeds" in report and "95% interval over animals" in report
    assert "From one training seed to another" in report and "MCC moves by" in report
    r = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r2"), "--extra-seed", "0", "-q"])
    assert r.exit_code == 2 and "extra_seeds" in r.output
