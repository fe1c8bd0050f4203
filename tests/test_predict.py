"""`collar-kd predict`: sliding windows over whole recordings (never across a gap), bouts and
daily budgets that match a recording with known bouts, chunked = whole, simulator mode = the
C, smoothing, labels read only with --score, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.data.synthetic import SyntheticSettings, generate, write_csv
from collar_kd.field.smoothing import TransitionModel, majority_filter, viterbi
from collar_kd.pipeline import predict_run as pr
from collar_kd.runs import read_json

runner = CliRunner()
MARK_G = 10.0  # the test's oracle reads the class from an offset of MARK_G * class on the x axis


def run_cli(*args) -> tuple[int, str]:
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


def known_recording(tmp_path: Path, classes: list[str], gap_after_s: float | None = None) -> tuple[Path, list]:
    """One animal doing each behaviour in turn (generator signals, marked per class), in one
    continuous CSV at 10 Hz; optionally a 60 s gap in the middle. Returns the file and the true
    (label, start_s, end_s) bouts."""
    rec = generate(SyntheticSettings(animals=1, bouts_per_class=1, bout_seconds=(20, 30), sample_rate=10.0,
                                     classes=tuple(classes)), seed=7)
    rows, truth, t = [], [], 0.0
    for b in rec.bouts:
        x = b.samples.copy()
        x[:, 0] += MARK_G * classes.index(b.label)
        n = len(x)
        times = t + np.arange(n) * 0.1
        if gap_after_s is not None:
            times = np.where(times >= gap_after_s, times + 60.0, times)
        rows.append(pd.DataFrame({"animal": "cow1", "timestamp": np.round(times, 3), "ax": x[:, 0], "ay": x[:, 1],
                                  "az": x[:, 2], "label": b.label}))
        truth.append((b.label, t, t + n * 0.1))
        t += n * 0.1
    path = tmp_path / "known.csv"
    pd.concat(rows).to_csv(path, index=False, float_format="%.6f")
    return path, truth


@pytest.fixture
def oracle(monkeypatch):
    """A classifier that reads the mark at the window's centre: exact, so every difference from
    the truth is the windowing's."""
    def call(self, x):
        k = len(self.classes)
        c = np.clip(np.round(x[:, x.shape[1] // 2, 0] / MARK_G), 0, k - 1).astype(int)
        return np.eye(k)[c]

    monkeypatch.setattr(pr.Classifier, "__call__", call)


def test_bouts_and_budgets_of_a_known_recording_with_a_gap(tiny_run, tmp_path, oracle):
    classes = read_json(tiny_run / "models" / "models.json")["classes"]
    data, truth = known_recording(tmp_path, classes, gap_after_s=None)
    total = truth[-1][2]
    gap_at = truth[1][1] + 7.0  # inside the second behaviour
    data, truth = known_recording(tmp_path, classes, gap_after_s=gap_at)
    code, output = run_cli("predict", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / "p", "-q")
    assert code == 0, output
    window_s = 2.0  # the tiny run's window: 20 samples at 10 Hz
    bouts = pd.read_csv(tmp_path / "p" / "bouts.csv")
    # The gap splits the second behaviour into two bouts; every other behaviour is one bout.
    assert list(bouts["behaviour"]) == [truth[0][0], truth[1][0], truth[1][0], *[b[0] for b in truth[2:]]]
    expected = [truth[0][2] - truth[0][1], gap_at - truth[1][1], truth[1][2] - gap_at,
                *[e - s for _, s, e in truth[2:]]]
    assert np.all(np.abs(bouts["duration_s"].to_numpy() - expected) <= window_s), (bouts, expected)
    # No window spans the gap: none starts before it and ends after it.
    w = pd.read_csv(tmp_path / "p" / "windows.csv")
    assert not ((w["start"] < gap_at) & (w["end"] > gap_at + 1e-6)).any()
    assert (w["start"] >= gap_at + 60.0 - 1e-6).any()
    budgets = pd.read_csv(tmp_path / "p" / "budgets.csv")
    assert len(budgets) == 1 and budgets["day"][0] == "day 1"
    for label, s, e in truth:
        assert abs(budgets[f"minutes_{label}"][0] * 60 - (e - s)) <= 2 * window_s
    recorded = sum(budgets[c][0] for c in budgets.columns if c.startswith("minutes_") and c != "minutes_no_data")
    assert abs(recorded * 60 - total) < 0.2 and abs(recorded + budgets["minutes_no_data"][0] - 1440) < 1e-2
    assert (tmp_path / "p" / "ethogram.png").is_file() and (tmp_path / "p" / "budgets.png").is_file()
    assert "windows.csv" in (tmp_path / "p" / "predict.md").read_text()


def test_chunked_and_whole_reading_give_identical_outputs(tiny_run, tmp_path):
    classes = read_json(tiny_run / "models" / "models.json")["classes"]
    data, _ = known_recording(tmp_path, classes, gap_after_s=31.0)
    for name, rows in (("small", 37), ("whole", 10**6)):
        code, output = run_cli("predict", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / name,
                               "--chunk-rows", rows, "--smoothing", "majority", "-q")
        assert code == 0, output
    for f in ("windows.csv", "bouts.csv", "budgets.csv", "predict.md"):
        assert (tmp_path / "small" / f).read_bytes() == (tmp_path / "whole" / f).read_bytes(), f


def test_simulator_mode_is_the_c_bit_for_bit(tiny_run, tiny_export, tmp_path):
    from collar_kd.quant.quantizer import QuantizedStudent
    from collar_kd.verify.host_lib import HostC

    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    classes = read_json(tiny_run / "models" / "models.json")["classes"]
    rec = generate(SyntheticSettings(animals=1, bouts_per_class=1, bout_seconds=(8, 10), sample_rate=10.0,
                                     classes=tuple(classes)), seed=11)
    x = np.concatenate([b.samples for b in rec.bouts])
    pd.DataFrame({"animal": "cow", "timestamp": np.round(np.arange(len(x)) * 0.1, 3), "ax": x[:, 0], "ay": x[:, 1],
                  "az": x[:, 2]}).to_csv(tmp_path / "u.csv", index=False, float_format="%.6f")
    code, output = run_cli("predict", tiny_run, "--data", tmp_path / "u.csv", "--csv-rate", "10", "--export", tiny_export,
                           "--out", tmp_path / "p")
    assert code == 0 and "exactly the classes the device computes" in output, output
    got = pd.read_csv(tmp_path / "p" / "windows.csv")["class_unsmoothed"].to_list()
    xs = np.stack([np.asarray(pd.read_csv(tmp_path / "u.csv")[["ax", "ay", "az"]], dtype=np.float32)[i:i + 20]
                   for i in range(0, len(x) - 20 + 1, 10)])
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    _, cls, _ = HostC(tiny_export, tmp_path / "host").run_windows(q.quantize_input(xs), len(q.classes), q.hidden)
    assert got == [classes[int(c)] for c in cls]


def test_the_student_and_forest_labeller_averages_the_two_models_probabilities(tiny_run, tmp_path):
    classes = read_json(tiny_run / "models" / "models.json")["classes"]
    data, _ = known_recording(tmp_path, classes)
    probs = {}
    for model in ("student_kd", "baseline_rf", "student_kd+baseline_rf"):
        out = tmp_path / model
        code, output = run_cli("predict", tiny_run, "--data", data, "--csv-rate", "10", "--out", out, "--model", model)
        assert code == 0, output
        table = pd.read_csv(out / "windows.csv")
        probs[model] = table[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    assert "a labeller for a computer" in output
    expected = (probs["student_kd"] + probs["baseline_rf"]) / 2
    np.testing.assert_allclose(probs["student_kd+baseline_rf"], expected, atol=1e-5)  # the CSV rounds to 5 decimals
    # Where the two disagree the pair is neither one's copy (the synthetic run's forest is sure, the student is not).
    assert not np.allclose(probs["student_kd+baseline_rf"], probs["baseline_rf"], atol=1e-3)


def test_labels_are_read_only_with_score(tiny_run, tmp_path):
    classes = read_json(tiny_run / "models" / "models.json")["classes"]
    data, _ = known_recording(tmp_path, classes)
    text = data.read_text().replace(f",{classes[0]}\n", ",not-a-class\n")
    data.write_text(text)
    code, output = run_cli("predict", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / "a", "-q")
    assert code == 0, output
    assert "label" not in pd.read_csv(tmp_path / "a" / "windows.csv").columns
    assert json.loads((tmp_path / "a" / "predict.json").read_text())["scores"] is None
    code, output = run_cli("predict", tiny_run, "--data", data, "--csv-rate", "10", "--out", tmp_path / "b", "--score")
    assert code == 0 and "smoothed" in output, output
    scores = json.loads((tmp_path / "b" / "predict.json").read_text())["scores"]
    w = pd.read_csv(tmp_path / "b" / "windows.csv", keep_default_na=False)
    assert scores["windows_scored"] == int((w["label"] != "").sum()) and (w["label"] == "").any()


def test_a_recording_at_another_rate_is_resampled_and_said(tiny_run, tmp_path):
    rec = generate(SyntheticSettings(animals=1, bouts_per_class=1, bout_seconds=(8, 10), sample_rate=25.0), seed=2)
    write_csv(rec, tmp_path / "fast.csv")
    code, output = run_cli("predict", tiny_run, "--data", tmp_path / "fast.csv", "--csv-rate", "25", "--out",
                           tmp_path / "p")
    assert code == 0 and "resampled to the model's 10 Hz" in output, output


def test_hmm_and_majority_smoothing_on_hand_worked_cases():
    flips = np.array([0, 0, 0, 1, 0, 0, 2, 2, 2, 2])
    assert majority_filter(flips, 3, 3).tolist() == [0, 0, 0, 0, 0, 0, 2, 2, 2, 2]
    assert majority_filter(np.array([1, 0]), 3, 5).tolist() == [1, 0]  # shorter than the filter: ties keep
    assert majority_filter(np.array([1, 0, 0]), 3, 5).tolist() == [0, 0, 0]
    sticky = TransitionModel(np.log(np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])),
                             np.log(np.full(3, 1 / 3)), np.log(np.full(3, 1 / 3)), 0)
    p = np.full((10, 3), 0.1)
    p[np.arange(10), flips] = 0.8
    assert viterbi(np.log(p), sticky).tolist() == [0, 0, 0, 0, 0, 0, 2, 2, 2, 2]
    # By hand: following the flip costs two switches, 2 log(0.05) = -6.0, and gains one emission,
    # log(0.8 / 0.1) = +2.1; staying costs 2 log(0.9) = -0.2. The flip is smoothed away; the
    # lasting change to class 2 is kept.
    counted = TransitionModel.estimate([np.array([0, 0, 1, 1, -1, 1])], 2)
    assert counted.counted_transitions == 3
    assert np.allclose(np.exp(counted.log_transition), [[2 / 4, 2 / 4], [1 / 3, 2 / 3]])


def test_hmm_smoothing_end_to_end(tiny_run, tmp_path):
    code, output = run_cli("predict", tiny_run, "--data", "synthetic", "--out", tmp_path / "p", "--smoothing", "hmm", "-q")
    assert code == 0, output
    summary = json.loads((tmp_path / "p" / "predict.json").read_text())
    assert summary["smoothing"]["kind"] == "hmm" and summary["smoothing"]["transitions_counted"] > 0


@pytest.mark.parametrize("args,needle", [
    (["--smoothing", "kalman"], "--smoothing: must be one of"),
    (["--smoothing", "majority", "--smoothing-windows", "4"], "--smoothing-windows"),
    (["--model", "oracle"], "--model"),
    (["--stride", "100"], "--stride: at most the window"),
    (["--chunk-rows", "1"], "--chunk-rows"),
])
def test_bad_predict_settings_exit_2_and_write_nothing(tiny_run, tmp_path, args, needle):
    code, output = run_cli("predict", tiny_run, "--data", "synthetic", "--out", tmp_path / "p", *args)
    assert code == 2 and needle in output and not (tmp_path / "p").exists(), output


def test_predict_refuses_an_export_of_another_run_and_an_out_inside_the_run(tiny_run, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    code, output = run_cli("predict", tiny_run, "--data", "synthetic", "--out", tiny_run / "p")
    assert code == 2 and "lies inside the run" in output
    code, output = run_cli("predict", tiny_run, "--data", "synthetic", "--export", other, "--out", tmp_path / "p")
    assert code == 2 and "quantized_student.npz" in output and not (tmp_path / "p").exists()
