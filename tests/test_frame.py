"""The animal's own frame (data.frame = "animal"): every animal's samples turned about z by its
mean x-y heading, from its data and never its labels; the device's integer running heading
(ckd_frame.c) equal to its Python twin bit for bit and close to the float frame; a model trained
in the frame classifies a collar worn at another heading the same; bad values exit 2."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.config import load_config
from collar_kd.data.frame import MIN_HEADING_G, heading, to_common_frame, turn
from collar_kd.data.synthetic import SyntheticSettings, generate, write_csv
from collar_kd.data.windows import Windows
from collar_kd.errors import ConfigError
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.sim import FixedPointSimulator
from collar_kd.sim.frame import IntegerFrame, frame_samples, stream_windows
from collar_kd.sim.kernels import rq, sat16
from collar_kd.verify.host_lib import HostC
from conftest import tiny_config_overrides

runner = CliRunner()


def about_z(x: np.ndarray, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return turn(x, np.cos(a), -np.sin(a))  # turn() goes by minus its angle: this turns by +degrees


def windows(x: np.ndarray, animal: list[str], y: np.ndarray | None = None) -> Windows:
    n = len(x)
    return Windows(x=x.astype(np.float32), y=np.zeros(n, np.int64) if y is None else y, animal=np.array(animal),
                   classes=("a", "b"), sample_rate=10.0, length=x.shape[1], stride=x.shape[1], skipped_bouts={})


def test_every_animal_is_turned_so_its_mean_points_along_x_whatever_its_heading():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.2, size=(6, 20, 3)) + np.array([0.4, 0.0, -0.85])
    x = np.concatenate([about_z(base[:3], 130.0), about_z(base[3:], -40.0)])
    win = to_common_frame(windows(x, ["a"] * 3 + ["b"] * 3), "animal")
    for a in ("a", "b"):
        mean = win.x[win.animal == a].reshape(-1, 3).mean(axis=0)
        assert mean[0] > 0.3 and abs(mean[1]) < 1e-5
    own = {a: np.degrees(np.arctan2(*heading(part)[::-1])) for a, part in (("a", base[:3]), ("b", base[3:]))}
    assert win.headings == {"a": pytest.approx(own["a"] + 130.0, abs=0.01), "b": pytest.approx(own["b"] - 40.0, abs=0.01)}
    np.testing.assert_array_equal(win.x[..., 2], x[..., 2].astype(np.float32))  # z untouched
    np.testing.assert_allclose(np.linalg.norm(win.x, axis=2), np.linalg.norm(x, axis=2), rtol=1e-5)
    # the two animals, worn at different headings, end in the same frame
    np.testing.assert_allclose(win.x[:3], turn(base[:3], *heading(base[:3])), atol=1e-5)
    np.testing.assert_allclose(win.x[3:], turn(base[3:], *heading(base[3:])), atol=1e-5)


def test_the_frame_reads_no_label_and_sensor_is_untouched():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.3, size=(8, 10, 3)) + np.array([0.0, 0.5, -0.8])
    animals = ["a"] * 4 + ["b"] * 4
    one = to_common_frame(windows(x, animals, np.array([0, 1] * 4)), "animal")
    other = to_common_frame(windows(x, animals, np.array([1, 1, 1, 0, 0, 0, 1, 0])), "animal")
    np.testing.assert_array_equal(one.x, other.x)
    plain = windows(x, animals)
    assert to_common_frame(plain, "sensor") is plain


def test_no_heading_below_the_threshold_keeps_the_sensor_frame():
    x = np.zeros((2, 10, 3)) + np.array([0.5 * MIN_HEADING_G, 0.0, -1.0])
    assert heading(x) == (1.0, 0.0)
    np.testing.assert_array_equal(to_common_frame(windows(x, ["a", "a"]), "animal").x, x.astype(np.float32))


@pytest.fixture(scope="module")
def host(tiny_export, tmp_path_factory) -> HostC:
    return HostC(tiny_export, tmp_path_factory.mktemp("frame_hostlib"))


@pytest.mark.parametrize("case", ["headings", "saturating", "no heading", "one sample"])
def test_the_device_heading_is_its_python_twin_bit_for_bit(host, tiny_export, case):
    frac_x = QuantizedStudent.load(tiny_export / "quantized_student.npz").frac["x"]
    rng = np.random.default_rng(len(case))
    if case == "headings":  # a collar turned to every quadrant in turn, noisy
        parts = [about_z(rng.normal(0, 0.3, (97, 3)) + np.array([0.5, 0.0, -0.85]), a) for a in (10, 100, 190, 280)]
        g = np.concatenate(parts)
        xq = sat16(np.round(g * 2.0 ** frac_x)).astype(np.int16)
    elif case == "saturating":
        xq = rng.choice(np.array([-32767, 32767, -32768 + 1, 0]), size=(300, 3)).astype(np.int16)
    elif case == "no heading":
        xq = np.tile(np.array([1, -1, -2 ** frac_x], np.int16), (200, 1))
    else:
        xq = np.array([[-3, 2 ** frac_x, 9]], np.int16)
    for every in (1, 7):
        out, hc = np.zeros_like(xq), np.zeros(2, np.int32)
        assert host.lib.shim_frame_stream(np.ascontiguousarray(xq.ravel()), len(xq), every, out, hc) == 0
        want, heading_cs = frame_samples(xq, frac_x, every)
        diff = np.argwhere(out != want)
        assert not len(diff), f"first differing sample {diff[0]}: C {out[tuple(diff[0])]}, Python {want[tuple(diff[0])]}"
        assert (int(hc[0]), int(hc[1])) == heading_cs
    if case == "no heading":
        assert heading_cs == (1 << 15, 0)


def test_the_integer_heading_is_the_float_one_to_q15():
    rng = np.random.default_rng(3)
    for angle in (0.0, 37.0, 91.0, -120.0, 179.0):
        g = about_z(rng.normal(0, 0.2, (500, 3)) + np.array([0.3, 0.0, -0.9]), angle)
        xq = np.round(g * 2.0 ** 12).astype(np.int64)
        frame = IntegerFrame(12)
        frame.add(xq)
        frame.update()
        c, s = heading(xq / 2.0 ** 12)
        assert abs(frame.c / 2 ** 15 - c) < 2 ** -12 and abs(frame.s / 2 ** 15 - s) < 2 ** -12


def test_the_stream_turns_every_window_by_the_running_heading_like_the_simulator(tiny_export, tmp_path):
    """An export in the animal frame (CKD_FRAME 1): raw counts through ckd_stream_push give the
    simulator's logits on windows turned by the heading of every sample up to each window's end."""
    framed = tmp_path / "export"
    shutil.copytree(tiny_export, framed)
    params = framed / "ckd_model_params.h"
    text = params.read_text()
    assert "#define CKD_FRAME 0" in text
    params.write_text(text.replace("#define CKD_FRAME 0", "#define CKD_FRAME 1"))
    host = HostC(framed, tmp_path / "lib")
    q = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    window, stride, counts_shift = q.window_length, 7, 12
    rng = np.random.default_rng(5)
    n = 4 * window + 3
    g = about_z(np.cumsum(rng.normal(0, 0.05, size=(n, 3)), axis=0) + np.array([0.4, 0.0, -0.9]), 75.0)
    counts = np.round(g * 2**counts_shift).astype(np.int32)
    k = len(q.classes)
    cls, logits = np.zeros(n, np.int32), np.zeros((n, k), np.int32)
    got = host.lib.shim_stream(np.ascontiguousarray(counts.ravel()), n, stride, counts_shift, cls, logits)
    xq = sat16(rq(counts.astype(np.int64), counts_shift - q.frac["x"]))
    turned = stream_windows(xq, q.frac["x"], window, stride)
    assert got == len(turned) and not np.array_equal(turned[-1], xq[-window:])  # it did turn
    sim = FixedPointSimulator(q).run(turned)
    np.testing.assert_array_equal(logits[:got], sim.logits)
    np.testing.assert_array_equal(cls[:got], sim.classes)


def test_bad_frame_is_an_error_naming_the_setting(tiny_synthetic, tmp_path):
    with pytest.raises(ConfigError, match="data.frame"):
        load_config(None, {**tiny_config_overrides(tiny_synthetic), "data.frame": "collar"}).validate()
    r = runner.invoke(app, ["train", "--frame", "upside-down", "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2 and "data.frame" in r.output, r.output
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def framed_run(tmp_path_factory):
    from collar_kd.pipeline.train_run import run_training

    tmp = tmp_path_factory.mktemp("framed")
    settings = tmp / "s.json"
    settings.write_text(json.dumps({"animals": 3, "bouts_per_class": 1, "bout_seconds": [8, 10], "sample_rate": 10.0}))
    cfg = load_config(None, {**tiny_config_overrides(settings), "data.frame": "animal", "extra_seeds": []})
    metrics = run_training(cfg, tmp / "run")
    return tmp / "run", metrics


def test_a_framed_run_records_its_frame_and_says_how_the_held_out_animal_got_its_own(framed_run):
    run, metrics = framed_run
    assert json.loads((run / "models" / "models.json").read_text())["frame"] == "animal"
    assert len(metrics["frame"]["headings_deg"]) == 3  # one turn per animal
    report = (run / "report.md").read_text()
    assert "Frame: every animal's samples were turned" in report and "without their labels" in report and "partial mean" in report


def test_a_framed_run_exports_a_device_that_turns_its_windows(framed_run, tiny_export, tmp_path):
    from collar_kd.export.exporter import ExportOptions
    from collar_kd.pipeline.export_run import export_run

    run, _ = framed_run
    export_run(run, tmp_path / "export", ExportOptions(device_rate_hz=10.0, target="eartag", windows=20))
    q = QuantizedStudent.load(tmp_path / "export" / "quantized_student.npz")
    assert q.frame == "animal"
    assert "#define CKD_FRAME 1" in (tmp_path / "export" / "ckd_model_params.h").read_text()
    sensor = QuantizedStudent.load(tiny_export / "quantized_student.npz")
    assert sensor.frame == "sensor" and dataclasses.replace(sensor, frame="animal").model_id() != sensor.model_id()
    if shutil.which("arm-none-eabi-gcc"):  # the frame's code is in what export checks against the budget
        framed = json.loads((tmp_path / "export" / "manifest.json").read_text())["footprint"]
        plain = json.loads((tiny_export / "manifest.json").read_text())["footprint"]
        assert "with the animal frame" in framed["how"] and "animal frame" not in plain["how"]
        assert framed["text_bytes"] >= plain["text_bytes"] + 400, (framed, plain)  # ckd_frame.c: about 520 B
        assert framed["stream_bytes"] >= plain["stream_bytes"] + 32  # ckd_frame_t


def test_a_framed_model_classifies_a_collar_worn_at_another_heading_the_same(framed_run, tmp_path):
    """The same recordings with every sample turned 70 degrees about z (the collar strapped on
    differently): `predict` turns each animal into its frame first, so the classes agree."""
    run, _ = framed_run
    rec = generate(SyntheticSettings(animals=2, bouts_per_class=1, bout_seconds=(8, 10), sample_rate=10.0), seed=4)
    write_csv(rec, tmp_path / "as_worn.csv")
    turned = [dataclasses.replace(b, samples=about_z(b.samples, 70.0)) for b in rec.bouts]
    write_csv(dataclasses.replace(rec, bouts=turned), tmp_path / "turned.csv")
    out = {}
    for name in ("as_worn", "turned"):
        r = runner.invoke(app, ["predict", str(run), "--data", str(tmp_path / f"{name}.csv"), "--csv-rate", "10",
                                "--out", str(tmp_path / f"p-{name}")])
        assert r.exit_code == 0, r.output
        assert "turned about the sensor's z axis by its own heading" in r.output
        out[name] = pd.read_csv(tmp_path / f"p-{name}" / "windows.csv")
    assert len(out["as_worn"]) == len(out["turned"]) > 0
    probs = [c for c in out["as_worn"].columns if c.startswith("p_")]
    np.testing.assert_allclose(out["as_worn"][probs].to_numpy(), out["turned"][probs].to_numpy(), atol=1e-3)
    assert (out["as_worn"]["class"] == out["turned"]["class"]).mean() >= 0.98
    # `evaluate` on labelled recordings likewise: each new animal in its own frame
    scored = {}
    for name in ("as_worn", "turned"):
        r = runner.invoke(app, ["evaluate", str(run), "--data", str(tmp_path / f"{name}.csv"), "--csv-rate", "10",
                                "--out", str(tmp_path / f"e-{name}"), "-q"])
        assert r.exit_code == 0, r.output
        scored[name] = json.loads((tmp_path / f"e-{name}" / "metrics.json").read_text())
    assert scored["turned"]["frame"]["name"] == "animal"
    for m in ("teacher", "student", "student_kd"):
        assert scored["as_worn"][m]["confusion"] == scored["turned"][m]["confusion"]


def test_the_frame_and_the_framed_stream_run_clean_under_asan_and_ubsan(tiny_export, tmp_path):
    """Extreme samples (full scale, every sign, a long run) through ckd_frame and the framed
    stream, built with the project's warnings and both sanitizers: any UB aborts the program."""
    import subprocess

    from collar_kd.paths import FIRMWARE_DIR
    from collar_kd.verify.build import SANITIZE, WARNINGS, includes, runtime_sources

    framed = tmp_path / "export"
    shutil.copytree(tiny_export, framed)
    params = framed / "ckd_model_params.h"
    params.write_text(params.read_text().replace("#define CKD_FRAME 0", "#define CKD_FRAME 1"))
    main = tmp_path / "frame_main.c"
    main.write_text("""
#include <stdint.h>
#include "ckd_host_shim.h"
#define N 4000
static int16_t x[N * 3], out[N * 3];
static int32_t counts[N * 3], cls[N], logits[N * 16];
int main(void)
{
    const int16_t corners[6] = {32767, -32767, -32768, 0, 1, -1};
    for (int i = 0; i < N * 3; ++i) {
        x[i] = corners[(i * 7 + i / 5) % 6];
        counts[i] = (int32_t)x[i] * 65536;
    }
    int32_t heading[2];
    if (shim_frame_stream(x, N, 1, out, heading) != 0 || shim_frame_stream(x, N, 13, out, heading) != 0) {
        return 1;
    }
    return shim_stream(counts, N, 3, 12, cls, logits) > 0 ? 0 : 2;
}
""")
    exe = tmp_path / "frame_main"
    cmd = ["gcc", *WARNINGS, *SANITIZE, *includes(framed), f"-I{FIRMWARE_DIR / 'host'}",
           *map(str, runtime_sources(framed)), str(FIRMWARE_DIR / "host" / "ckd_host_shim.c"), str(main), "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(exe)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
