"""The benchmarks' own machinery (bench/common.py): a killed benchmark leaves no worker computing,
and what a benchmark keeps to resume is written whole or not at all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

# A benchmark in miniature: a pool from bench/common.py whose one worker is busy for a minute.
BUSY_BENCHMARK = """
import os, sys, time
sys.path.insert(0, {bench!r})
from common import worker_pool

def busy():
    time.sleep(60)

if __name__ == "__main__":
    ex = worker_pool(1)
    print(ex.submit(os.getpid).result(), flush=True)
    ex.submit(busy)
    time.sleep(120)
"""


def running(pid: int) -> bool:
    """Alive and not a zombie (a dead orphan waiting for init to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_a_killed_benchmark_leaves_no_worker_running(tmp_path):
    script = tmp_path / "busy_benchmark.py"
    script.write_text(BUSY_BENCHMARK.format(bench=str(BENCH)))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        worker = int(parent.stdout.readline())
        time.sleep(0.5)  # the worker is now inside busy(), so it does not read its job queue
        assert running(worker)
        parent.send_signal(signal.SIGKILL)  # no cleanup at all: only the worker itself can notice
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(worker), "the pool's worker went on computing after its benchmark was killed"
    finally:
        parent.kill()
        if worker is not None and running(worker):
            os.kill(worker, signal.SIGKILL)


def bench_common():
    sys.path.insert(0, str(BENCH))
    try:
        import common
    finally:
        sys.path.remove(str(BENCH))
    return common


def test_kept_results_are_whole_or_absent(tmp_path, monkeypatch):
    common = bench_common()
    path = tmp_path / "kept" / "seed-0" / "fold-00-a" / "x.json"
    common.write_json_atomically(path, {"pred": [0, 1, 2]})
    assert json.loads(path.read_text()) == {"pred": [0, 1, 2]}

    def fails(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(common.os, "replace", fails)
    with pytest.raises(OSError):
        common.write_json_atomically(path, {"pred": [9]})
    assert json.loads(path.read_text()) == {"pred": [0, 1, 2]}  # the earlier result, untouched
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # and no half-written file beside it


def test_kept_results_are_tied_to_the_code_that_computed_them(tmp_path, monkeypatch):
    import collar_kd

    common = bench_common()
    package = tmp_path / "collar_kd"
    (package / "distill").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "distill" / "losses.py").write_text("T = 4\n")
    monkeypatch.setattr(collar_kd, "__file__", str(package / "__init__.py"))
    before = common.code_fingerprint()
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "losses.pyc").write_bytes(b"compiled")  # not code of its own
    assert common.code_fingerprint() == before
    (package / "distill" / "losses.py").write_text("T = 2\n")
    assert common.code_fingerprint() != before


def test_a_kept_data_free_student_is_found_only_by_its_own_settings_seed_fold_data_and_code():
    sys.path.insert(0, str(BENCH))
    try:
        import data_free
    finally:
        sys.path.remove(str(BENCH))
    overrides = {"teacher.epochs": 15, "threads": 1, "data.path": "/farm/a/wasp_cow_walking"}
    variant = {"method.name": "data-free", "method.teaching": "consistent"}

    def kept(overrides=overrides, seed=1, key="fold-00-1217", variant=variant, code="code-a", windows="windows-a"):
        return data_free.kept_student(overrides, seed, key, variant, code, windows)

    assert kept() == kept(overrides=dict(reversed(overrides.items())), variant=dict(variant))
    assert kept() == kept(overrides={**overrides, "data.path": "/farm/b/wasp_cow_walking"})  # the same data, moved
    assert kept().parent == data_free.KEPT / "seed-1" / "fold-00-1217"
    others = [kept(overrides={**overrides, "teacher.epochs": 16}), kept(seed=2), kept(key="fold-01-1219"),
              kept(variant={**variant, "method.teaching": "cached"}), kept(code="code-b"), kept(windows="windows-b")]
    assert kept() not in others and len(set(others)) == len(others)


def test_the_window_digest_sees_every_window_label_and_animal():
    import numpy as np

    sys.path.insert(0, str(BENCH))
    try:
        import data_free
    finally:
        sys.path.remove(str(BENCH))

    class Win:
        def __init__(self, x, y, animal):
            self.x, self.y, self.animal = x, y, animal

    x, y, animal = np.zeros((4, 8, 3), np.float32), np.array([0, 1, 2, 0]), np.array(["a", "a", "b", "b"])
    base = data_free.window_digest(Win(x, y, animal))
    assert base == data_free.window_digest(Win(x.copy(), y.copy(), animal.copy()))
    x2 = x.copy()
    x2[3, 7, 2] = 1e-3
    assert data_free.window_digest(Win(x2, y, animal)) != base
    assert data_free.window_digest(Win(x, np.array([0, 1, 2, 1]), animal)) != base
    assert data_free.window_digest(Win(x, y, np.array(["a", "b", "b", "b"]))) != base


# A benchmark whose first job fails while each of the others would write its mark after 3 s.
FAILING_BENCHMARK = """
import os, sys, time
sys.path.insert(0, {bench!r})
from common import worker_pool

def job(i, marks):
    if i == 0:
        raise ValueError("bad fold")
    time.sleep(3)
    open(os.path.join(marks, str(i)), "w").close()

if __name__ == "__main__":
    with worker_pool(1) as ex:
        futures = [ex.submit(job, i, sys.argv[1]) for i in range(4)]
        futures[0].result()
"""


def test_a_failing_job_stops_the_benchmark_instead_of_running_every_other_job_first(tmp_path):
    script = tmp_path / "failing_benchmark.py"
    script.write_text(FAILING_BENCHMARK.format(bench=str(BENCH)))
    marks = tmp_path / "marks"
    marks.mkdir()
    out = subprocess.run([sys.executable, str(script), str(marks)], capture_output=True, text=True, timeout=240)
    assert out.returncode != 0 and "ValueError: bad fold" in out.stderr
    time.sleep(4)  # longer than any job: a job left running would have written its mark by now
    assert sorted(p.name for p in marks.iterdir()) == []  # the standard executor ran all three first


def test_fold_windows_are_cut_once_per_data_set(tiny_synthetic, monkeypatch):
    """Every fold of a pilot asks for the same recordings: they are read and windowed once, and
    another data set (or seed) is read afresh, never served the last one's windows."""
    import numpy as np

    import collar_kd.data as data
    from collar_kd.config import load_config
    from conftest import tiny_config_overrides

    sys.path.insert(0, str(BENCH))
    try:
        import common
    finally:
        sys.path.remove(str(BENCH))
    reads = []
    real = data.load_recordings
    monkeypatch.setattr(data, "load_recordings", lambda *a, **k: reads.append(1) or real(*a, **k))
    common._LAST_WINDOWS.clear()
    base = tiny_config_overrides(tiny_synthetic)
    cfg = load_config(None, base)
    animals = sorted(np.unique(common.all_windows(cfg).animal).tolist())
    win, _, key = common.fold_windows(cfg, animals[0])
    win2, test, key2 = common.fold_windows(cfg, animals[1])
    assert win2 is win and len(reads) == 1 and key != key2 and test.any() and not test.all()
    other = common.fold_windows(load_config(None, {**base, "data.stride": "5"}), animals[0])[0]
    assert len(reads) == 2 and len(other.x) > len(win.x)
    reseeded = common.fold_windows(load_config(None, {**base, "seed": 3}), animals[0])[0]
    assert len(reads) == 3 and not np.array_equal(reseeded.x[:1], win.x[:1])


def test_data_free_results_of_disjoint_seeds_combine_into_one_verdict(tmp_path):
    """bench/data_free.py --combine: seeds 3 and 4, each run on its own, judged as one result of
    both; worked by hand: two cows, one variant."""
    sys.path.insert(0, str(BENCH))
    try:
        import data_free
    finally:
        sys.path.remove(str(BENCH))
    v = "variant"
    ref = {"seeds": [3, 4, 5], "pooled_mcc": {"student_kd": {"per_seed": [0.80, 0.70, 0.10]}},
           "per_fold": [{"animal": "a", "mcc_by_seed": {"teacher": [0.5, 0.6, 0.0], "student_kd": [0.9, 0.7, 0.0]}},
                        {"animal": "b", "mcc_by_seed": {"teacher": [0.4, 0.3, 0.0], "student_kd": [0.6, 0.8, 0.0]}}]}
    (reference := tmp_path / "accuracy-x.json").write_text(json.dumps(ref))

    def result(name, seed, teacher, mine, pooled):
        doc = {"dataset": "d", "reference": "accuracy-x.json", "seeds": [seed], "animals": ["a", "b"], "variants": {v: {}},
               "pooled_mcc": {"teacher": {"per_seed": [0.0]}, v: {"per_seed": [pooled]}},
               "per_animal_mcc": {"teacher": {"a": [teacher[0]], "b": [teacher[1]]}, v: {"a": [mine[0]], "b": [mine[1]]}}}
        (path := tmp_path / name).write_text(json.dumps(doc))
        return path

    three = result("s3.json", 3, (0.5, 0.4), (0.7, 0.5), 0.66)
    four = result("s4.json", 4, (0.6, 0.3), (0.6, 0.5), 0.56)
    doc = data_free.combine([three, four], reference)
    assert doc["seeds"] == [3, 4] and doc["combined_from"] == ["s3.json", "s4.json"]
    assert doc["pooled_mcc"][v] == {"mean": pytest.approx(0.61), "per_seed": [0.66, 0.56]}
    # the reference's distilled student of the same seeds (not seed 5)
    assert doc["pooled_mcc"][data_free.KD_ROW]["per_seed"] == [0.80, 0.70]
    assert doc["targets"]["data_free_within_0.15_of_kd"]["measured"] == pytest.approx(0.61 - 0.75)
    assert doc["targets"]["data_free_within_0.15_of_kd"]["met"] is True
    # per cow, mean over seeds: a (0.7-0.9 + 0.6-0.7)/2 = -0.15, b (0.5-0.6 + 0.5-0.8)/2 = -0.2
    assert doc["best_minus_kd_per_animal"]["mean"] == pytest.approx(-0.175)
    assert doc["best_minus_kd_per_animal"]["animals_worse"] == 2
    assert doc["teachers_identical_to_reference"] is True
    # A teacher that is not the reference's is said; shared seeds or other animals are refused.
    other = result("s4b.json", 4, (0.6, 0.31), (0.6, 0.5), 0.56)
    assert data_free.combine([three, other], reference)["teachers_identical_per_animal"] == {"a": True, "b": False}
    with pytest.raises(SystemExit, match="share seeds"):
        data_free.combine([three, three], reference)
    odd = json.loads(four.read_text()) | {"animals": ["a"]}
    (odd_path := tmp_path / "odd.json").write_text(json.dumps(odd))
    with pytest.raises(SystemExit, match="other animals"):
        data_free.combine([three, odd_path], reference)


def test_data_free_takes_the_reference_runs_own_fold_models_as_its_teachers(tiny_synthetic, tmp_path, monkeypatch):
    """bench/data_free.py against a bench-accuracy result whose run kept its fold models: the fold's
    ResNet and its student without KD (the 'gru' teacher) are those very networks, none is trained
    again, and the result says where they came from."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from collar_kd.config import load_config
    from collar_kd.distill.teachers import TeacherPool
    from collar_kd.runs import build_model
    from collar_kd.training.loop import predict_logits
    from conftest import tiny_config_overrides

    sys.path.insert(0, str(BENCH))
    try:
        import accuracy
        import common
        import data_free
    finally:
        sys.path.remove(str(BENCH))
    monkeypatch.setattr(data_free, "KEPT", tmp_path / "kept")
    monkeypatch.setattr(data_free, "TEACHERS", tmp_path / "teachers")

    def never(self, spec):
        raise AssertionError(f"teacher {spec} trained again")

    monkeypatch.setattr(TeacherPool, "_train", never)
    overrides = {**tiny_config_overrides(tiny_synthetic), "seed": 5}
    cfg = load_config(None, overrides)
    animal = sorted(np.unique(common.all_windows(cfg).animal).tolist())[0]
    win, test, key = common.fold_windows(cfg, animal)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length,
            "teacher": {"filters": cfg.teacher.filters, "kernels": cfg.teacher.kernels},
            "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
    run = accuracy.reference_run(tmp_path / "accuracy-x.json", 5)
    assert run == accuracy.WORK / "accuracy-x-seed-5"  # where bench/accuracy.py --name x keeps seed 5
    run = tmp_path / "accuracy-x-seed-5"
    (run / "folds" / key).mkdir(parents=True)
    torch.manual_seed(123)  # weights no pool would train
    saved = {m: build_model(m, arch).eval() for m in ("teacher", "student")}
    for m, model in saved.items():
        save_file(model.state_dict(), str(run / "folds" / key / f"{m}.safetensors"))
    variant = {"method.name": "data-free", "method.teachers": ["resnet", "gru"], "method.teaching": "consistent",
               "method.generator_steps": 2, "method.generator_batch": 8, "method.generated_windows": 16,
               "student.epochs": 1}
    out = data_free.fold_job(overrides, 5, animal, {"v": variant}, "code", run)
    assert out["teachers_from"] == str(run / "folds" / key)
    xt = win.x[test]
    assert np.array_equal(out["preds"]["teacher"], predict_logits(saved["teacher"], xt).argmax(1))
    assert np.array_equal(out["preds"]["teacher gru"], predict_logits(saved["student"], xt).argmax(1))
    assert len(out["preds"]["v"]) == len(xt)
    # Without a kept run the fold trains its teachers (here: refused, so it is seen trying).
    with pytest.raises(AssertionError, match="trained again"):
        data_free.fold_job(overrides, 5, animal, {"v": variant}, "code", tmp_path / "no-run")


def test_fresh_seeds_against_selection_seeds_worked_by_hand():
    """bench/pilots/fresh_seeds.py: fresh minus selection, and Welch's interval over seeds from its
    formula (unequal variances, Welch-Satterthwaite degrees of freedom)."""
    from scipy import stats

    sys.path.insert(0, str(BENCH / "pilots"))
    try:
        import fresh_seeds
    finally:
        sys.path.remove(str(BENCH / "pilots"))
    d = fresh_seeds.fresh_minus_selection([0.70, 0.72, 0.74], [0.66, 0.68])
    assert d["selection_mean"] == pytest.approx(0.72) and d["fresh_mean"] == pytest.approx(0.67)
    assert d["difference"] == pytest.approx(-0.05)
    va, vb = 0.0004 / 3, 0.0002 / 2  # sample variances over the number of seeds
    dof = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 1)
    half = stats.t.ppf(0.975, dof) * (va + vb) ** 0.5
    assert d["ci_low"] == pytest.approx(-0.05 - half, abs=1e-4)
    assert d["ci_high"] == pytest.approx(-0.05 + half, abs=1e-4)
    assert "ci_low" not in fresh_seeds.fresh_minus_selection([0.7, 0.72], [0.66])  # one fresh seed: no interval
