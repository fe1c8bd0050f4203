"""`collar-kd adapt`: a trained run's distilled student fitted to a new herd's unlabelled recordings.
It is the benchmark's "new farm without labels" step bit for bit; the herd's labels are never read;
the adapted run is a copy with only its distilled student changed; bad options exit 2 and leave
nothing behind."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.config import load_config
from collar_kd.data.synthetic import SyntheticSettings, generate
from collar_kd.distill.adaptation import adaptation_labels, fine_tune_on_unlabelled
from collar_kd.runs import read_json
from conftest import tiny_config_overrides

runner = CliRunner()


def run_cli(*args) -> tuple[int, str]:
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


@pytest.mark.parametrize("labeller", ["forest+student", "student", "forest"])
def test_adapting_is_the_transductive_fine_tune_bit_for_bit(tiny_synthetic, tmp_path, monkeypatch, labeller):
    """In every fold, the adaptation of the strict distilled student by the fold's forest (the
    baseline's, trained on turned copies) to the held-out windows gives exactly the fold's
    transductive student: what bench-accuracy's row measures is what `adapt` does (with rotations,
    mixup and the ensemble method, as in the collar recipe)."""
    import collar_kd.pipeline.train_run as run_mod

    seen, original = [], run_mod.train_all

    def spy(cfg, win, key, progress, unlabelled_x=None, transductive_x=None):
        models, report = original(cfg, win, key, progress, unlabelled_x=unlabelled_x, transductive_x=transductive_x)
        seen.append((cfg, models, transductive_x))
        return models, report

    monkeypatch.setattr(run_mod, "train_all", spy)
    how = {"forest+student": "with_student", "student": "student", "forest": "teachers"}[labeller]
    over = {**tiny_config_overrides(tiny_synthetic), "transductive": True, "final_models": False, "seed": 2,
            "transductive_epochs": 2, "transductive_labels": how,
            "transductive_teachers": [] if how == "student" else ["turned_forest"],
            "transductive_windows": "unlabelled", "transductive_lr_scale": 1.0, "baseline_forest": "turned_forest",
            "turned_forest_copies": 2, "augment_rotation_deg": 20.0, "kd.teaching": "cached", "kd.transfer": "mixup",
            "kd.mixup": 0.2, "method.name": "ensemble", "method.teachers": ["resnet", "forest"]}
    run_mod.run_training(load_config(None, over), tmp_path / "run")
    assert len(seen) == 3  # three animals, three folds
    for cfg, models, held_x in seen:
        labels = adaptation_labels(models["student_kd"], models["baseline_rf"], held_x, labeller, cfg)
        tuned, history = fine_tune_on_unlabelled(models["student_kd"], held_x, labels, cfg, cfg.transductive_epochs,
                                                 cfg.student.lr * cfg.transductive_lr_scale)
        a, b = tuned.state_dict(), models["student_kd_transductive"].state_dict()
        assert len(history) == 2 and [k for k in a if not torch.equal(a[k], b[k])] == []
        assert not torch.equal(a["fc2.weight"], models["student_kd"].state_dict()["fc2.weight"])  # it did move


def herd_csv(tmp_path, labels: str | None = "???", seconds: float = 60.0, animals=("h1", "h2")):
    """Recordings of a new herd at 10 Hz, at most `seconds` per animal; with `labels`, a label
    column holding that value on every row."""
    rec = generate(SyntheticSettings(animals=len(animals), bouts_per_class=1, bout_seconds=(8, 10), sample_rate=10.0),
                   seed=11)
    frames = []
    for animal, source in zip(animals, sorted({b.animal for b in rec.bouts})):
        x = np.concatenate([b.samples for b in rec.bouts if b.animal == source])[: int(seconds * 10)]
        df = pd.DataFrame({"animal": animal, "timestamp": np.round(np.arange(len(x)) * 0.1, 3), "ax": x[:, 0],
                           "ay": x[:, 1], "az": x[:, 2]})
        if labels is not None:
            df["label"] = labels
        frames.append(df)
    path = tmp_path / "herd.csv"
    pd.concat(frames).to_csv(path, index=False, float_format="%.6f")
    return path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_adapt_writes_a_run_whose_distilled_student_alone_changed(tiny_run, tmp_path, monkeypatch):
    import collar_kd.pipeline.predict_run as reader_mod

    data = herd_csv(tmp_path, labels="grazing")  # a label column of a real class: it must not be read
    segments, original = [], reader_mod.read_segments

    def spy(*args, **kw):
        for seg in original(*args, **kw):
            segments.append(seg.labels)
            yield seg

    monkeypatch.setattr(reader_mod, "read_segments", spy)
    code, output = run_cli("adapt", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / "a",
                           "--epochs", "3")
    assert code == 0, output
    assert "adapted to" in output and "2 animal(s)" in output
    assert len(segments) == 4 and all(labels is None for labels in segments)  # counted, then windowed: no labels
    out = tmp_path / "a"
    s = read_json(out / "adaptation.json")
    assert s["labels_read"] is False and s["labeller"] == "forest+student" and len(s["loss_per_epoch"]) == 3
    rows = pd.read_csv(data).groupby("animal").size()
    assert s["windows_per_animal"] == {a: (n - 20) // 10 + 1 for a, n in rows.items()}  # window 20, stride 10
    assert s["windows"] == sum(s["windows_per_animal"].values())
    for f in ("teacher.safetensors", "student.safetensors", "baseline_rf.npz"):
        assert digest(out / "models" / f) == digest(tiny_run / "models" / f)
    assert digest(out / "models" / "student_kd.safetensors") != digest(tiny_run / "models" / "student_kd.safetensors")
    assert digest(out / "metrics.json") == digest(tiny_run / "metrics.json")
    assert read_json(out / "manifest.json")["adapted"]["windows"] == s["windows"]
    assert read_json(out / "models" / "models.json")["student_kd_method"]["adapted"]["epochs"] == 3
    report = " ".join((out / "report.md").read_text().split())
    assert report.startswith(f"# Adapted to {data}") and "without their labels" in report
    code, info = run_cli("info", out)
    assert code == 0 and "adapted: its distilled student was fine-tuned on" in info
    # the adapted student is what predict (and export) take as the run's distilled student
    code, output = run_cli("predict", out, "--data", data, "--csv-rate", "10", "--out", tmp_path / "p", "-q")
    assert code == 0, output
    predicted = pd.read_csv(tmp_path / "p" / "windows.csv")["class_unsmoothed"]
    assert len(predicted) == s["windows"]
    assert {c: round(float((predicted == c).mean()), 4) for c in s["class_share_after"]} == s["class_share_after"]
    # and the same command again gives the same student
    code, _ = run_cli("adapt", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / "b", "--epochs", "3",
                      "-q")
    assert code == 0 and digest(tmp_path / "b" / "models" / "student_kd.safetensors") == \
        digest(out / "models" / "student_kd.safetensors")


def test_adapt_thins_long_recordings_evenly(tiny_run, tmp_path):
    data = herd_csv(tmp_path, labels=None)  # no label column at all
    code, output = run_cli("adapt", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / "a",
                           "--epochs", "1", "--max-windows", "10")
    assert code == 0, output
    s = read_json(tmp_path / "a" / "adaptation.json")
    total = sum((n - 20) // 10 + 1 for n in pd.read_csv(data).groupby("animal").size())
    step = -(-total // 10)
    assert s["windows"] == -(-total // step) <= 10 and any(f"every {step}th kept" in n for n in s["notes"])
    assert set(s["windows_per_animal"]) == {"h1", "h2"}  # spread over the recordings, not the first ones


@pytest.mark.parametrize("args, named", [
    (["--labeller", "teacher"], "--labeller"),
    (["--epochs", "0"], "--epochs"),
    (["--lr-scale", "0"], "--lr-scale"),
    (["--max-windows", "0"], "--max-windows"),
    (["--stride", "25"], "--stride"),
    (["--device", "tpu"], "device: must be one of"),
])
def test_adapt_bad_options_exit_2_naming_them_and_write_nothing(tiny_run, tmp_path, args, named):
    data = herd_csv(tmp_path)
    code, output = run_cli("adapt", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / "a", *args)
    assert code == 2 and named in output, output
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".a*"))


def test_adapt_refuses_recordings_shorter_than_a_window_and_a_run_without_final_models(tiny_run, tmp_path):
    short = herd_csv(tmp_path, seconds=1.5)  # 15 samples, the window is 20
    code, output = run_cli("adapt", tiny_run, "--data", short, "--csv-rate", "10", "--out", tmp_path / "a")
    assert code == 2 and str(short) in output and "no recording is as long as one window" in output, output
    assert not (tmp_path / "a").exists()
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "models").mkdir()
    (bare / "models" / "models.json").write_text(json.dumps(read_json(tiny_run / "models" / "models.json")))
    (bare / "config.json").write_text(json.dumps(read_json(tiny_run / "config.json")))
    code, output = run_cli("adapt", bare, "--data", herd_csv(tmp_path), "--csv-rate", "10", "--out", tmp_path / "b")
    assert code == 2 and "student_kd.safetensors: missing" in output, output
    assert not (tmp_path / "b").exists()


def test_adapt_refuses_an_existing_output_before_reading_anything(tiny_run, tmp_path, monkeypatch):
    import collar_kd.pipeline.predict_run as reader_mod

    def never(*args, **kw):
        raise AssertionError("the recordings were read although the output directory was refused")

    monkeypatch.setattr(reader_mod, "read_segments", never)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep.txt").write_text("mine")
    code, output = run_cli("adapt", tiny_run, "--data", herd_csv(tmp_path), "--csv-rate", "10", "--out", tmp_path / "a")
    assert code == 2 and "already exists" in output and (tmp_path / "a" / "keep.txt").read_text() == "mine", output

