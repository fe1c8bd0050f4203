"""Hostile input, one test (or a sweep) per class of defect in docs/reliability.md: nothing
reaches the user as a traceback, every failure exits 2 (input) or 1 (a bug, said so), no run
is lost, no run forgets its data, and what reaches C always compiles."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.data.synthetic import SyntheticSettings, generate, write_csv
from collar_kd.errors import RunDirError
from collar_kd.runs import STALE_AFTER_S, atomic_directory

runner = CliRunner()
TINY = ["--window", "20", "--stride", "10", "--cv", "none", "--teacher-epochs", "1", "--student-epochs", "1",
        "--hidden", "8", "--head", "8", "-q"]


def run_cli(*args) -> tuple[int, str]:
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


def no_traceback(output: str) -> bool:
    return "Traceback" not in output and 'File "' not in output


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("csvdata")
    rec = generate(SyntheticSettings(animals=2, bouts_per_class=1, bout_seconds=(8, 10), sample_rate=10.0), seed=3)
    write_csv(rec, tmp / "farm.csv")
    return tmp / "farm.csv"


@pytest.fixture(scope="module")
def csv_run(csv_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("csvrun") / "run"
    code, output = run_cli("train", "--data", csv_data, "--csv-rate", "10", *TINY, "--out", out)
    assert code == 0, output
    return out


# Class 1: a broken model is never an artifact (settings: test_training_loop.py, the sweep) ----

def test_a_model_with_a_non_finite_weight_is_never_saved(tmp_path):
    import torch

    from collar_kd.errors import TrainingDiverged
    from collar_kd.models import GRUStudent
    from collar_kd.runs import save_model

    model = GRUStudent(3, 4, 4)
    with torch.no_grad():
        next(model.parameters())[0, 0] = float("inf")
    with pytest.raises(TrainingDiverged, match="is not finite"):
        save_model(model, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


# Class 2: lost runs -------------------------------------------------------------------------

def test_a_second_command_writing_the_same_out_is_refused_at_once(tmp_path):
    """A live run holds the lock on its temporary directory; another command with the same --out
    (even with --force) is refused before it trains, and the live run's directory is untouched."""
    live = tmp_path / ".run.tmp-live"
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(RunDirError, match="another collar-kd command is writing it now"):
            with atomic_directory(tmp_path / "run", force=True):
                pass
    finally:
        os.close(fd)
    assert live.is_dir() and not (tmp_path / "run").exists()
    assert [p.name for p in tmp_path.iterdir()] == [".run.tmp-live"]


def test_leftovers_of_killed_runs_are_recognised_and_removed(tmp_path):
    dead = tmp_path / ".run.tmp-dead"
    dead.mkdir()
    (dead / "metrics.json").write_text("{}")
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(dead, (old, old))
    with atomic_directory(tmp_path / "run") as tmp:
        (tmp / "x").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_out_that_appears_meanwhile_is_never_replaced(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(RunDirError, match="appeared or changed while this command ran"):
        with atomic_directory(final) as tmp:
            (tmp / "mine").write_text("result")
            final.mkdir()
            (final / "theirs").write_text("other")
    assert (final / "theirs").is_file() and not (final / "mine").exists()
    kept = list(tmp_path.glob("run.unsaved-*"))
    assert len(kept) == 1 and (kept[0] / "mine").read_text() == "result"  # the finished work is kept


def test_a_finished_run_is_taken_up_only_with_the_settings_it_was_trained_with(tiny_run, tmp_path):
    from collar_kd.config import load_config
    from collar_kd.pipeline.train_run import finished_run
    from conftest import tiny_config_overrides

    same = {**tiny_config_overrides(tiny_run.parent / "s.json"), "cv": "none", "student.epochs": 3}  # as conftest trained it
    assert finished_run(load_config(None, same), tiny_run) == json.loads((tiny_run / "metrics.json").read_text())
    assert finished_run(load_config(None, {**same, "seed": 1}), tiny_run) is None
    assert finished_run(load_config(None, {**same, "data.frame": "animal"}), tiny_run) is None
    # How the finished student is rounded to integers is not part of what the run trained.
    assert finished_run(load_config(None, {**same, "method.rounding": "nearest"}), tiny_run) is not None
    older = tmp_path / "older"  # a run recorded before method.rounding and method.layer_weight_bits existed
    shutil.copytree(tiny_run, older)
    cfg = json.loads((older / "config.json").read_text())
    del cfg["method"]["rounding"], cfg["method"]["layer_weight_bits"]
    (older / "config.json").write_text(json.dumps(cfg))
    assert finished_run(load_config(None, same), older) is not None
    assert finished_run(load_config(None, {**same, "method.layer_weight_bits": {"ih": 16}}), older) is None
    cfg["student"]["no_such_setting"] = 1  # a record this version cannot read is not the same run
    (older / "config.json").write_text(json.dumps(cfg))
    assert finished_run(load_config(None, same), older) is None
    partial = tmp_path / "partial"
    shutil.copytree(tiny_run, partial)
    (partial / "metrics.json").unlink()
    assert finished_run(load_config(None, same), partial) is None


@pytest.mark.parametrize("where", ["same", "inside"])
def test_evaluate_out_may_not_be_or_lie_inside_its_run(tiny_run, tmp_path, where):
    before = sorted(p.name for p in (tiny_run / "models").iterdir())
    out = tiny_run if where == "same" else tiny_run / "eval"
    code, output = run_cli("evaluate", tiny_run, "--data", "synthetic", "--out", out, "--force", "-q")
    assert code == 2 and str(tiny_run) in output and no_traceback(output)
    assert sorted(p.name for p in (tiny_run / "models").iterdir()) == before


def test_train_out_may_not_contain_or_lie_inside_its_data(csv_data, tmp_path):
    code, output = run_cli("train", "--data", csv_data.parent, "--csv-rate", "10", *TINY, "--out", csv_data.parent / "run")
    assert code == 2 and "lies inside the data" in output
    code, output = run_cli("train", "--data", csv_data, "--csv-rate", "10", *TINY, "--out", csv_data.parent, "--force")
    assert code == 2 and "contains the data" in output and csv_data.is_file()


# Class 3: runs that know their data ---------------------------------------------------------

def test_export_refuses_a_run_whose_training_data_changed(csv_data, csv_run, tmp_path):
    original = csv_data.read_text()
    try:
        lines = original.splitlines(keepends=True)
        fields = lines[5].split(",")
        fields[2] = "0.123456"
        lines[5] = ",".join(fields)
        csv_data.write_text("".join(lines))
        code, output = run_cli("export", "--device-rate", "10", csv_run, "--out", tmp_path / "e", "--windows", "10")
        assert code == 2 and "changed since `train`" in output and "--allow-changed-data" in output
        assert not (tmp_path / "e").exists()
        code, output = run_cli("export", "--device-rate", "10", csv_run, "--out", tmp_path / "e", "--windows", "10", "--allow-changed-data")
        assert code == 0, output
    finally:
        csv_data.write_text(original)


def test_evaluate_says_when_it_is_given_the_training_data(csv_data, csv_run, tmp_path):
    code, output = run_cli("evaluate", csv_run, "--data", csv_data, "--csv-rate", "10", "--out", tmp_path / "ev", "-q")
    assert code == 0, output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["in_sample"] is True and "IN-SAMPLE" in metrics["evaluated_on"]


# Class 4: text that reaches C ---------------------------------------------------------------

HOSTILE_LABELS = ['say "moo"', "back\\slash", "new\nline", "trigraph??=", "kühe", "tab\there", "*/ comment"]


def test_labels_reach_c_as_escaped_string_literals_that_compile(tmp_path):
    """The generated class-name initializer, compiled and printed by a C program, gives back the
    labels byte for byte."""
    from collar_kd.export.header import c_string

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler")
    src = tmp_path / "names.c"
    src.write_text("#include <stdio.h>\n"
                   f"static const char *const names[] = {{{', '.join(c_string(s) for s in HOSTILE_LABELS)}}};\n"
                   "int main(void) { for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) "
                   "{ fputs(names[i], stdout); fputc(0, stdout); } return 0; }\n")
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wtrigraphs", "-o", str(tmp_path / "names"),
                    str(src)], check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "names")], check=True, capture_output=True).stdout
    assert out.split(b"\0")[:-1] == [s.encode() for s in HOSTILE_LABELS]


def test_a_run_with_hostile_labels_exports_a_header_that_compiles(tmp_path):
    rec = generate(SyntheticSettings(animals=2, bouts_per_class=1, bout_seconds=(8, 10), sample_rate=10.0), seed=4)
    mapping = dict(zip(sorted({b.label for b in rec.bouts}), HOSTILE_LABELS))
    for b in rec.bouts:
        b.label = mapping[b.label]
    write_csv(rec, tmp_path / "weird.csv")
    code, output = run_cli("train", "--data", tmp_path / "weird.csv", "--csv-rate", "10", *TINY, "--out", tmp_path / "run")
    assert code == 0, output
    code, output = run_cli("export", "--device-rate", "10", tmp_path / "run", "--out", tmp_path / "e", "--windows", "10")
    assert code == 0, output
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler for the verify step")
    code, output = run_cli("verify", tmp_path / "e", "--target", "host")
    assert code == 0 and "PASS host" in output, output


# Class 5: no traceback reaches the user (a sweep over every subcommand) ----------------------

def _sweep_cases(tiny_run: Path, tmp: Path, csv_data: Path) -> list[tuple[str, list, str]]:
    """(what, arguments, text the message must contain)."""
    rows = csv_data.read_text().splitlines(keepends=True)

    def csv(name: str, text: str) -> Path:
        (tmp / name).write_text(text)
        return tmp / name

    def broken_run(name: str, damage) -> Path:
        d = tmp / name
        shutil.copytree(tiny_run, d)
        damage(d)
        return d

    def export_dir(name: str, damage) -> Path:
        d = tmp / name
        shutil.copytree(tmp / "good_export", d)
        damage(d)
        return d

    def with_value(line: int, field: int, value: str) -> str:
        edited = list(rows)
        fields = edited[line - 1].split(",")
        fields[field] = value
        edited[line - 1] = ",".join(fields)
        return "".join(edited)

    big = csv("big.csv", with_value(2, 2, "1e39"))
    huge = csv("huge.csv", with_value(5, 3, "1e30"))
    semi = csv("semi.csv", "".join(r.replace(",", ";") for r in rows))
    toml = tmp / "bad.toml"
    toml.write_text("seed = \n[data\n")
    loop = tmp / "loop"
    (loop / "Grazing").mkdir(parents=True)
    (loop / "Grazing" / "back").symlink_to("..")
    cm = tmp / "cm.json"
    cm.write_text('{"classes": "abc"}')
    afile = tmp / "afile"
    afile.write_text("x")
    run_args = ["--csv-rate", "10", *TINY]
    cases = [
        ("CSV value beyond float32", ["train", "--data", big, *run_args, "--out", tmp / "o"], f"{big}, row 2, column 'ax'"),
        ("CSV value beyond any sensor", ["train", "--data", huge, *run_args, "--out", tmp / "o"], f"{huge}, row 5, column 'ay'"),
        ("semicolon-separated CSV", ["train", "--data", semi, *run_args, "--out", tmp / "o"], f"{semi}: missing column(s)"),
        ("config that is not TOML", ["train", "--config", toml, "--out", tmp / "o"], f"{toml}: cannot parse config"),
        ("symbolic link loop in a WASP tree", ["train", "--data", loop, "--format", "wasp", "--out", tmp / "o"], str(loop)),
        ("negative seed", ["train", "--data", csv_data, *run_args, "--seed", "-1", "--out", tmp / "o"], "seed: must be"),
        ("NaN temperature", ["train", "--data", csv_data, *run_args, "--temperature", "nan", "--out", tmp / "o"],
         "kd.temperature"),
        ("hidden size 0", ["train", "--data", csv_data, *run_args, "--hidden", "0", "--out", tmp / "o"], "student.hidden"),
        ("class map of the wrong shape", ["train", "--data", csv_data, "--class-map", cm, *run_args, "--out", tmp / "o"], str(cm)),
        ("--out is a file", ["train", "--data", csv_data, *run_args, "--out", afile], f"{afile}: exists and is not a directory"),
        ("--out under a file", ["train", "--data", csv_data, *run_args, "--out", afile / "run"], str(afile)),
        ("truncated model", ["export", "--device-rate", "10", broken_run("trunc", lambda d: (d / "models" / "student_kd.safetensors").write_bytes(
            (tiny_run / "models" / "student_kd.safetensors").read_bytes()[:100])), "--out", tmp / "o"], "student_kd.safetensors"),
        ("pickle in place of safetensors", ["export", "--device-rate", "10", broken_run("pickled", lambda d: (d / "models" / "student_kd.safetensors")
                                                                .write_bytes(b"\x80\x04K\x01.")), "--out", tmp / "o"], "not a valid"),
        ("forest file corrupted", ["evaluate", broken_run("rf", lambda d: (d / "models" / "baseline_rf.npz").write_bytes(b"PK\x03")),
                                   "--data", "synthetic", "--out", tmp / "o"], "baseline_rf.npz"),
        ("models.json not JSON", ["export", "--device-rate", "10", broken_run("json", lambda d: (d / "models" / "models.json").write_text("{bad")),
                                  "--out", tmp / "o"], "models.json: not valid JSON"),
        ("manifest lacks fields", ["info", broken_run("manifest", lambda d: (d / "manifest.json").write_text("{}"))],
         "lacks a field"),
        ("export --windows 0", ["export", "--device-rate", "10", tiny_run, "--out", tmp / "o", "--windows", "0"], "--windows"),
        ("export --student other", ["export", "--device-rate", "10", tiny_run, "--out", tmp / "o", "--student", "teacher"], "--student"),
        ("unknown device", ["export", "--device-rate", "10", tiny_run, "--out", tmp / "o", "--target", "fridge"], "unknown device"),
        ("verify a directory that does not exist", ["verify", tmp / "nowhere"], "no such export directory"),
        ("verify truncated golden inputs", ["verify", export_dir("g1", lambda d: (d / "golden" / "inputs.bin").write_bytes(b"CKDI\0")),
                                            "--target", "host"], "inputs.bin"),
        ("verify missing golden outputs", ["verify", export_dir("g2", lambda d: (d / "golden" / "outputs.bin").unlink()),
                                           "--target", "host"], "golden/outputs.bin"),
        ("verify corrupted quantized model", ["verify", export_dir("g3", lambda d: (d / "quantized_student.npz").write_text("junk")),
                                              "--target", "host"], "quantized_student.npz"),
        ("info on nothing", ["info", tmp / "nothing"], "manifest.json: missing"),
        ("predict with a run that does not exist", ["predict", tmp / "nothing", "--data", csv_data, "--csv-rate", "10",
                                                    "--out", tmp / "o"], "models.json: missing"),
        ("predict on a CSV value beyond any sensor", ["predict", tiny_run, "--data", huge, "--csv-rate", "10", "--out",
                                                      tmp / "o"], f"{huge}, row 5, column 'ay'"),
        ("predict on a semicolon CSV", ["predict", tiny_run, "--data", semi, "--csv-rate", "10", "--out", tmp / "o"],
         f"{semi}: missing column(s)"),
    ]
    return cases


def test_sweep_every_subcommand_with_broken_inputs_exits_2_without_traceback(tiny_run, csv_data, tmp_path):
    code, output = run_cli("export", "--device-rate", "10", tiny_run, "--out", tmp_path / "good_export", "--windows", "8")
    assert code == 0, output
    failures = []
    for what, args, needle in _sweep_cases(tiny_run, tmp_path, csv_data):
        code, output = run_cli(*args)
        if code != 2 or needle not in output or not no_traceback(output) or "internal error" in output:
            failures.append(f"{what}: exit {code}: {output.strip()[-300:]}")
        assert not (tmp_path / "nowhere").exists(), what  # verify creates nothing for a missing export
        assert not (tmp_path / "o").exists(), what
    assert not failures, "\n".join(failures)


def test_bom_and_crlf_files_read_like_plain_ones(csv_data, tmp_path):
    from collar_kd.data.csv_reader import CsvLayout, read_csv_recordings

    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + csv_data.read_text().replace("\n", "\r\n").encode())
    a, b = (read_csv_recordings(p, CsvLayout(sample_rate=10.0)) for p in (csv_data, tmp_path / "bom.csv"))
    assert a.fingerprint() == b.fingerprint()


def test_an_edited_header_is_a_verify_fail_naming_the_mismatch(tiny_run, tmp_path):
    code, output = run_cli("export", "--device-rate", "10", tiny_run, "--out", tmp_path / "e", "--windows", "8")
    assert code == 0, output
    params = tmp_path / "e" / "ckd_model_params.h"
    params.write_text(params.read_text().replace("#define CKD_HIDDEN 8", "#define CKD_HIDDEN 9"))
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    code, output = run_cli("verify", tmp_path / "e", "--target", "host")
    assert code == 1 and "CKD-VERIFY FAIL host" in output and "headers edited" in output and no_traceback(output)


def test_a_bug_exits_1_and_says_so_without_a_traceback(tiny_run, tmp_path, monkeypatch):
    import collar_kd.pipeline.evaluate_run as ev

    def bug(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(ev, "classification_metrics", bug)
    code, output = run_cli("evaluate", tiny_run, "--data", "synthetic", "--out", tmp_path / "ev", "-q")
    assert code == 1 and "internal error" in output and "ZeroDivisionError: boom" in output and no_traceback(output)
    crash = Path(output.split("the traceback is in ")[1].split(";")[0])
    assert "ZeroDivisionError" in crash.read_text()
    crash.unlink()
    assert not (tmp_path / "ev").exists()


def test_an_unwritable_out_is_exit_2(tiny_run, tmp_path, monkeypatch):
    """(Root ignores permission bits, so the refusal is simulated where the directory is made.)"""
    import tempfile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    code, output = run_cli("evaluate", tiny_run, "--data", "synthetic", "--out", tmp_path / "ro" / "ev", "-q")
    assert code == 2 and "cannot create the output directory here (Permission denied)" in output


def test_an_unreadable_data_file_is_exit_2(csv_data, tmp_path, monkeypatch):
    import pandas as pd

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pd, "read_csv", denied)
    code, output = run_cli("train", "--data", csv_data, "--csv-rate", "10", *TINY, "--out", tmp_path / "o")
    assert code == 2 and f"{csv_data}: cannot read: Permission denied" in output


# Class 6: positions are the file's physical lines -------------------------------------------

def test_error_lines_count_blank_lines_and_multiline_quoted_rows(tmp_path):
    text = ('animal,timestamp,ax,ay,az,label\n\n\ncow,0.0,0.1,0.1,1.0,a\n"cow",0.1,0.1,0.1,1.0,"multi\nline"\n'
            "cow,0.2,0.1,x,1.0,a\n")
    (tmp_path / "l.csv").write_text(text)
    code, output = run_cli("train", "--data", tmp_path / "l.csv", "--csv-rate", "10", "--out", tmp_path / "o")
    assert code == 2 and "l.csv, row 7, column 'ay'" in output


def test_a_bad_timestamp_is_blamed_on_its_own_line(tmp_path):
    rows = [f"cow,2024-05-01 10:00:{i / 10:04.1f},0.1,0.1,1.0,a" for i in range(30)]
    rows[17] = "cow,2024-05-01 10:00:xx,0.1,0.1,1.0,a"
    (tmp_path / "t.csv").write_text("animal,timestamp,ax,ay,az,label\n\n" + "\n".join(rows) + "\n")
    code, output = run_cli("train", "--data", tmp_path / "t.csv", "--csv-rate", "10", "--out", tmp_path / "o")
    assert code == 2 and "t.csv, row 20, column 'timestamp'" in output, output


def test_time_zone_offsets_changing_inside_a_file_are_one_timeline(tmp_path):
    """Daylight saving: 01:59:59.9+01:00 is followed by 03:00:00.0+02:00, 0.1 s later."""
    from collar_kd.data.csv_reader import CsvLayout, read_csv_recordings

    start = np.datetime64("2024-03-31T00:59:00.000")  # UTC
    stamps = []
    for i in range(1200):
        t = start + np.timedelta64(100 * i, "ms")
        summer = t >= np.datetime64("2024-03-31T01:00:00")
        local = t + np.timedelta64(2 if summer else 1, "h")
        stamps.append(f"{str(local).replace('T', ' ')}{'+02:00' if summer else '+01:00'}")
    body = "".join(f"cow,{s},0.1,0.1,1.0,a\n" for s in stamps)
    (tmp_path / "dst.csv").write_text("animal,timestamp,ax,ay,az,label\n" + body)
    rec = read_csv_recordings(tmp_path / "dst.csv", CsvLayout(sample_rate=10.0))
    assert len(rec.bouts) == 1 and len(rec.bouts[0].samples) == 1200 and not rec.dropped
    mixed = "animal,timestamp,ax,ay,az,label\n" + "".join(f"cow,{s},0.1,0.1,1.0,a\n" for s in stamps[:5]) + \
        "cow,2024-03-31 02:59:00.5,0.1,0.1,1.0,a\n"
    (tmp_path / "mixed.csv").write_text(mixed)
    code, output = run_cli("train", "--data", tmp_path / "mixed.csv", "--csv-rate", "10", "--out", tmp_path / "o")
    assert code == 2 and "mixed.csv, row 7, column 'timestamp'" in output and "offset" in output


# Class 7: leftovers after termination -------------------------------------------------------

@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_leave_nothing_behind(tiny_synthetic, tmp_path, sig, status):
    from conftest import tiny_toml

    cfg = tiny_toml(tiny_synthetic, tmp_path)
    # A command started in the background by a non-interactive shell (`cmd &`, as CI may run the
    # tests) inherits SIGINT ignored, and Python then keeps it ignored: give the run the default
    # disposition, as a terminal would, so Ctrl-C is what is tested.
    proc = subprocess.Popen([sys.executable, "-m", "collar_kd.cli", "train", "--config", str(cfg), "--out",
                             str(tmp_path / "run"), "--student-epochs", "5000", "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not list(tmp_path.glob(".run.tmp-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert list(tmp_path.glob(".run.tmp-*")), "the run never started"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status and no_traceback(err)
    assert ("terminated" if sig == signal.SIGTERM else "interrupted") in err, err
    assert not list(tmp_path.glob(".run*")) and not (tmp_path / "run").exists()


# Class 8: quiet surprises, each decided ----------------------------------------------------

def test_wasp_files_ending_upper_case_csv_are_read_and_nested_ones_named(tmp_path):
    """Decided: '.CSV' is a CSV; a CSV nested deeper than the layout's pattern allows is an error
    naming it (a layout may say "unmatched": "skip" to count them instead); other files are the
    dataset's documents and are not read."""
    from collar_kd.data.wasp import read_wasp_recordings
    from collar_kd.errors import DataError

    header = "Time,BNO055_AX,BNO055_AY,BNO055_AZ\n"
    body = "".join(f"2024-05-14 13:17:{25 + i / 10:04.1f},0.1,0.2,9.8\n" for i in range(30))
    (tmp_path / "Grazing").mkdir()
    (tmp_path / "Grazing" / "1_Grazing_1217_20240514_131725.CSV").write_text(header + body)
    (tmp_path / "Grazing" / "notes.txt").write_text("x")
    (tmp_path / "README.md").write_text("top-level files are the dataset's own documents")
    assert len(read_wasp_recordings(tmp_path).bouts) == 1
    (tmp_path / "Grazing" / "old").mkdir()
    (tmp_path / "Grazing" / "old" / "2_Grazing_1217_20240514_131725.csv").write_text(header + body)
    with pytest.raises(DataError, match="old/2_Grazing_1217_20240514_131725.csv: path does not match"):
        read_wasp_recordings(tmp_path)


def test_duplicated_axis_columns_are_refused(tmp_path):
    (tmp_path / "d.csv").write_text("animal,ax,ay,az,ax,label\ncow,0.1,0.1,1.0,0.2,a\n")
    code, output = run_cli("train", "--data", tmp_path / "d.csv", "--csv-rate", "10", "--out", tmp_path / "o")
    assert code == 2 and "column 'ax' appears twice" in output


def test_a_single_class_training_set_is_refused(tmp_path):
    rec = generate(SyntheticSettings(animals=2, bouts_per_class=2, bout_seconds=(8, 10), sample_rate=10.0,
                                     classes=("walking",)), seed=5)
    write_csv(rec, tmp_path / "one.csv")
    code, output = run_cli("train", "--data", tmp_path / "one.csv", "--csv-rate", "10", *TINY, "--out", tmp_path / "o")
    assert code == 2 and "one class only ('walking')" in output and not (tmp_path / "o").exists()


def test_a_student_no_device_can_hold_is_warned_about(tiny_synthetic, tmp_path):
    from conftest import tiny_toml

    cfg = tiny_toml(tiny_synthetic, tmp_path)
    r = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--hidden", "96",
                            "--head", "96", "--cv", "none", "-q"])
    assert r.exit_code == 0, r.output
    assert "warning: the student has" in r.output and "fits no shipped device profile" in r.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["warnings"] and "Warning: the student has" in (tmp_path / "run" / "report.md").read_text()


def test_run_directories_get_the_usual_permissions(tiny_run):
    umask = os.umask(0)
    os.umask(umask)
    assert (tiny_run.stat().st_mode & 0o777) == (0o777 & ~umask)


# Class 9: byte-identical reruns -------------------------------------------------------------

def test_same_seed_gives_byte_identical_run_directories_but_the_manifest_times(tiny_synthetic, tmp_path):
    from conftest import tiny_toml

    cfg = tiny_toml(tiny_synthetic, tmp_path)
    for name in ("a", "b"):
        code, output = run_cli("train", "--config", cfg, "--out", tmp_path / name, "-q")
        assert code == 0, output
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    differ = [str(f) for f in files if (tmp_path / "a" / f).read_bytes() != (tmp_path / "b" / f).read_bytes()]
    assert set(differ) <= {"manifest.json"}  # (two fast runs may even share the second and the timings)
    ma, mb = (json.loads((tmp_path / n / "manifest.json").read_text()) for n in ("a", "b"))
    for m in (ma, mb):
        m.pop("created"), m.pop("wall_time_s"), m.pop("method_timings_s")
    assert ma == mb
