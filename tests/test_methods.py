"""The student-training methods of collar_kd.methods: each trains on tiny synthetic data and
gives a student that exports and verifies; SPEQ's self-teacher really changes precision; FEED's
transforms do not reach the exported student; the data-free path never reads real windows."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from collar_kd.cli import app
from collar_kd.config import KDConfig, load_config
from collar_kd.data import load_recordings, windows_for
from collar_kd.distill.losses import ScheduledLoss, kl_term, scheduled_alpha
from collar_kd.distill.teachers import TeacherPool, TeacherSpec, is_forest, parse_teacher_spec
from collar_kd.errors import ConfigError
from collar_kd.distill.targets import ensemble_logits
from collar_kd.methods import METHODS, StudentJob, resolve_settings, train_student
from collar_kd.methods.feed import FeatureTransform, feature_distance
from collar_kd.models import FCNTeacher, GRUStudent
from collar_kd.quant.qat import FakeQuantStudent
from collar_kd.quant.quantizer import quantize_student
from tests.conftest import tiny_config_overrides

runner = CliRunner()

# Each method's own settings, made fast for tests.
FAST_METHOD = {
    "qat-kd": {"method.epochs": 1}, "speq": {"method.epochs": 1},
    "ensemble": {"method.teachers": ["resnet:0", "fcn:0"]}, "feed": {"method.teachers": ["resnet:0", "fcn:0"]},
    "data-free": {"method.generator_steps": 3, "method.generator_batch": 16, "method.generated_windows": 64},
}


def tiny_cfg(settings: Path, **extra):
    """A tiny config whose method settings are resolved (and so checked) as a run would."""
    fast = FAST_METHOD.get(extra.get("method.name", "kd"), {})
    cfg = load_config(None, {**tiny_config_overrides(settings), **fast, "cv": "none", **extra})
    resolve_settings(cfg)
    return cfg


@pytest.fixture(scope="module")
def fold(tmp_path_factory):
    """Tiny synthetic windows, a teacher pool over them, and the no-KD student."""
    from collar_kd.training.loop import class_weights

    tmp = tmp_path_factory.mktemp("fold")
    settings = tmp / "s.json"
    settings.write_text(json.dumps({"animals": 2, "bouts_per_class": 1, "bout_seconds": [8, 10], "sample_rate": 10.0}))
    cfg = tiny_cfg(settings)
    rec, cmap = load_recordings(cfg.data, seed=0)
    win = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride)
    n = len(win.classes)
    weights = class_weights(win.y, n, cfg.class_weighting)
    pool = TeacherPool(cfg, win.x, win.y, n, weights, "t")
    torch.manual_seed(0)
    no_kd = GRUStudent(n, cfg.student.hidden, cfg.student.head)
    arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length}
    return {"cfg": cfg, "win": win, "pool": pool, "no_kd": no_kd, "arch": arch, "settings": settings}


def job_for(fold, cfg=None, **kw) -> StudentJob:
    win = fold["win"]
    cfg = cfg or fold["cfg"]
    args = dict(cfg=cfg, settings=resolve_settings(cfg), x=win.x, y=win.y, n_classes=len(win.classes), window_length=win.length,
                arch=fold["arch"], teachers=fold["pool"], weights=fold["pool"].weights, key="t",
                progress=_quiet(), no_kd_student=fold["no_kd"])
    args.update(kw)
    return StudentJob(**args)


def _quiet():
    from collar_kd.progress import Quiet

    return Quiet()


def test_registry_holds_every_method_and_rejects_unknown_names(tmp_path, tiny_synthetic):
    assert {"none", "kd", "qat-kd", "speq", "ensemble", "feed", "data-free"} <= set(METHODS)
    with pytest.raises(ConfigError, match="method.name: unknown method 'dafl'"):
        tiny_cfg(tiny_synthetic, **{"method.name": "dafl"})
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--method", "distill-harder", "--quiet"])
    assert r.exit_code == 2 and "method.name" in r.output


@pytest.mark.parametrize("method,key,value,message", [
    ("kd", "method.weight_bits", 9, "method.weight_bits"),
    ("kd", "method.layer_weight_bits", {"ih": 12}, "method.layer_weight_bits.ih: must be one of"),
    ("kd", "method.layer_weight_bits", {"lstm": 16}, "method.layer_weight_bits: 'lstm' is not a layer"),
    ("kd", "method.layer_weight_bits", 16, "method.layer_weight_bits: must be a section"),
    ("kd", "method.rounding", "stochastic", "method.rounding: must be one of nearest, compensated, not 'stochastic'"),
    ("feed", "method.mode", "diagonal", "method.mode"),
    ("ensemble", "method.teachers", ["resnet:x"], "method.teachers: 'resnet:x'"),
    ("ensemble", "method.teachers", ["forest:0", "tree"], "method.teachers: 'tree'"),
    ("feed", "method.teachers", ["vgg:0"], "method.teachers: 'vgg:0'"),
    ("speq", "method.bits", [1, 8], "method.bits"),
    ("qat-kd", "method.lr", float("nan"), "method.lr"),
    ("data-free", "method.generator_steps", 0, "method.generator_steps"),
    ("data-free", "method.generator_form", "physics", "method.generator_form: must be one of free, gravity"),
    ("data-free", "method.motion_range_g", 0.0, "method.motion_range_g"),
    ("data-free", "method.adversarial_steps", -1, "method.adversarial_steps"),
    ("data-free", "method.adversarial_weight", 0.0, "method.adversarial_weight"),
    ("data-free", "method.fresh_windows", "yes", "method.fresh_windows: must be true or false"),
    ("data-free", "method.teaching", "crossfit", "method.teaching: must be one of consistent, cached"),
    ("data-free", "method.teachers", [], "method.teachers: needs at least one teacher"),
    ("data-free", "method.teachers", ["forest", "resnet"], "method.teachers: the first teacher trains the generator"),
    ("data-free", "method.teachers", ["gru", "resnet"], "method.teachers: the first teacher trains the generator"),
    ("data-free", "method.teachers", ["resnet", "lstm:1"], "method.teachers: 'lstm:1'"),
    ("data-free", "method.generator_teachers", "all", "method.generator_teachers: must be one of first, networks"),
    ("data-free", "method.average_epochs", -1, "method.average_epochs: must be at least 0"),
    ("data-free", "method.average_epochs", True, "method.average_epochs: must be a whole number"),
    # Sizes that would exhaust memory mid-fold are refused before anything trains.
    ("data-free", "method.generated_windows", 10**9, "method.generated_windows: must be at most 1,000,000"),
    ("data-free", "method.generator_batch", 10**6, "method.generator_batch: must be at most 65,536"),
    ("data-free", "method.generator_latent", 10**5, "method.generator_latent: must be at most 4,096"),
    ("qat-kd", "method.epochs", 10**6, "method.epochs: must be at most 100,000"),
    ("speq", "method.epochs", 10**6, "method.epochs: must be at most 100,000"),
    ("kd", "kd.alpha_schedule", "step", "kd.alpha_schedule"),
    ("kd", "kd.teaching", "telepathic", "kd.teaching"),
    # A setting of another method is unknown to this one, and the message lists this one's.
    ("kd", "method.mode", "parallel", "unknown setting"),
    ("speq", "method.teachers", ["fcn:0"], "settings of method 'speq': epochs, lr, bits"),
])
def test_bad_method_settings_name_the_field(tiny_synthetic, method, key, value, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        tiny_cfg(tiny_synthetic, **{"method.name": method, key: value})


def test_coefficient_schedules():
    const = KDConfig(alpha=0.9)
    lin = KDConfig(alpha=0.9, alpha_schedule="linear", alpha_end=0.1)
    cos = KDConfig(alpha=0.9, alpha_schedule="cosine", alpha_end=0.0)
    assert scheduled_alpha(const, 0.7) == 0.9
    assert scheduled_alpha(lin, 0.0) == pytest.approx(0.9) and scheduled_alpha(lin, 0.5) == pytest.approx(0.5)
    assert scheduled_alpha(lin, 1.0) == pytest.approx(0.1)
    assert scheduled_alpha(cos, 0.0) == pytest.approx(0.9) and scheduled_alpha(cos, 0.5) == pytest.approx(0.45)
    assert scheduled_alpha(cos, 1.0) == pytest.approx(0.0, abs=1e-12)
    # The loss follows the schedule: at the end a cosine-to-zero loss is plain cross-entropy.
    loss = ScheduledLoss(cos, kl_term)
    s, t, y = torch.randn(8, 4), torch.randn(8, 4), torch.randint(0, 4, (8,))
    loss.set_progress(1.0)
    assert torch.allclose(loss(s, y, t, None), torch.nn.functional.cross_entropy(s, y))
    loss.set_progress(0.0)
    assert not torch.allclose(loss(s, y, t, None), torch.nn.functional.cross_entropy(s, y))


def test_training_loop_reports_progress_to_a_scheduled_loss(fold):
    from collar_kd.training.loop import fit

    cfg = KDConfig(alpha=0.9, alpha_schedule="linear", alpha_end=0.0)
    loss = ScheduledLoss(cfg, kl_term)
    seen = []
    original = loss.set_progress
    loss.set_progress = lambda p: (seen.append(p), original(p))
    win = fold["win"]
    fit(GRUStudent(len(win.classes), 8, 8), win.x, win.y, loss, 2, 16, 1e-3, 0, targets=lambda xb, idx: torch.zeros(len(idx), len(win.classes)))
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1 - 1 / len(seen)) and seen == sorted(seen)


def test_ensemble_soft_labels_are_the_mean_of_softened_probabilities():
    rng = np.random.default_rng(0)
    logits = [rng.normal(0, 3, (5, 4)) for _ in range(3)]
    T = 4.0
    soft = lambda z: np.exp(z / T) / np.exp(z / T).sum(1, keepdims=True)  # noqa: E731
    assert np.allclose(soft(ensemble_logits(logits, T).astype(np.float64)), np.mean([soft(z) for z in logits], axis=0), atol=1e-6)


def test_teacher_specs_and_the_fcn_teacher():
    assert parse_teacher_spec("fcn:3") == TeacherSpec("fcn", 3)
    t = FCNTeacher(5, [8, 16, 12], [8, 5, 3])
    x = torch.randn(4, 30, 3)
    assert t.features(x).shape == (4, 12, 30) and t(x).shape == (4, 5)


def test_teacher_pool_trains_each_teacher_once_and_reloads_from_disk(fold, tmp_path):
    cfg, win = fold["cfg"], fold["win"]
    pool = TeacherPool(cfg, win.x, win.y, len(win.classes), None, "k", directory=tmp_path)
    a = pool.get("fcn:1")
    assert pool.get(TeacherSpec("fcn", 1)) is a and (tmp_path / "teacher-fcn-1.safetensors").is_file()
    again = TeacherPool(cfg, win.x, win.y, len(win.classes), None, "k", directory=tmp_path).get("fcn:1")
    x = torch.from_numpy(win.x[:5])
    assert torch.equal(a(x), again(x))


def test_a_kept_teacher_is_reloaded_only_for_the_same_settings_and_windows(fold, tmp_path, monkeypatch):
    cfg, win = fold["cfg"], fold["win"]
    TeacherPool(cfg, win.x, win.y, len(win.classes), None, "k", directory=tmp_path).get("fcn:1")
    trained = []
    monkeypatch.setattr(TeacherPool, "_train", lambda self, spec: trained.append(spec) or FCNTeacher(len(win.classes), [8], [3]))

    def pool(cfg=cfg, x=win.x, y=win.y):
        return TeacherPool(cfg, x, y, len(win.classes), None, "k", directory=tmp_path)

    pool().get("fcn:1")
    assert trained == []  # the same settings and windows: reloaded
    other_windows = win.x.copy()
    other_windows[0, 0, 0] += 0.5
    pool(x=other_windows).get("fcn:1")
    pool(y=np.roll(win.y, 1)).get("fcn:1")
    pool(cfg=replace(cfg, teacher=replace(cfg.teacher, epochs=cfg.teacher.epochs + 1))).get("fcn:1")
    pool(cfg=replace(cfg, augment_scale=0.1)).get("fcn:1")
    assert len(trained) == 4  # each of them is trained again, not handed the kept teacher
    record = tmp_path / "teacher-fcn-1.json"
    record.write_text(json.dumps({"seconds": 1.0}))  # kept before teachers had fingerprints
    pool().get("fcn:1")
    assert len(trained) == 5


def test_speq_self_teacher_changes_precision_between_passes(fold):
    from collar_kd.methods.speq import SelfTeacher

    win, student = fold["win"], fold["no_kd"]
    q = quantize_student(student, win.x, fold["arch"], 8)
    fq = FakeQuantStudent(student, q)
    teacher = SelfTeacher(fq, [2, 3, 16, 0], seed=0)
    xb = torch.from_numpy(win.x[:16])
    outs = [teacher(xb) for _ in range(8)]
    assert len({tuple(sorted(d.items())) for d in teacher.draws}) > 1, "precision never changed"
    assert any(not torch.equal(outs[0], o) for o in outs[1:]), "different precisions, same outputs"
    # A teacher that can only draw 16 bits is exactly the student's own integer graph.
    fixed = SelfTeacher(fq, [16], seed=0)
    with torch.no_grad():
        assert torch.equal(fixed(xb), fq(xb))
    # and the method's record shows more than one precision drawn per layer group.
    cfg = tiny_cfg(fold["settings"], **{"method.name": "speq", "student.batch_size": 8, "method.epochs": 2})
    result = train_student(job_for(fold, cfg))
    assert result.report["teacher_passes"] > 1
    assert all(len(counts) > 1 for counts in result.report["teacher_bits_drawn"].values())


@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_feed_trains_transforms_but_returns_a_plain_student(fold, mode):
    cfg = tiny_cfg(fold["settings"], **{"method.name": "feed", "method.mode": mode, "student.epochs": 2})
    before = {k: v.clone() for k, v in job_for(fold, cfg).new_student().state_dict().items()}
    result = train_student(job_for(fold, cfg))
    assert type(result.student) is GRUStudent
    plain = GRUStudent(len(fold["win"].classes), 8, 8)
    assert result.student.param_count() == plain.param_count()
    assert result.report["transform_params_training_only"] > 0
    assert [s["teachers"] for s in result.report["stages"]] == (
        [["resnet:0", "fcn:0"]] if mode == "parallel" else [["resnet:0"], ["fcn:0"]])
    assert any(not torch.equal(before[k], v) for k, v in result.student.state_dict().items())


def test_feature_distance_ignores_scale_and_sees_shape():
    a = torch.rand(3, 6, 10)
    assert float(feature_distance(a * 5.0, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(feature_distance(torch.rand(3, 6, 10), a)) > 0.01
    assert FeatureTransform(8, 6)(torch.randn(3, 10, 8)).shape == (3, 6, 10)


class Untouchable:
    """Stands in for the real training windows: any use of it fails the test."""

    def __init__(self, what: str):
        object.__setattr__(self, "what", what)

    def __getattr__(self, name):
        raise AssertionError(f"the data-free path read the real training {self.what} ({name})")

    def __getitem__(self, key):
        raise AssertionError(f"the data-free path indexed the real training {self.what}")

    def __len__(self):
        raise AssertionError(f"the data-free path took len() of the real training {self.what}")

    def __iter__(self):
        raise AssertionError(f"the data-free path iterated the real training {self.what}")

    def __array__(self, *args, **kwargs):
        raise AssertionError(f"the data-free path converted the real training {self.what}")


def data_free_pool(fold, cfg) -> TeacherPool:
    """A teacher pool for the data-free method whose windows and labels fail on any use, holding
    every teacher the method names, trained on the fold's real windows beforehand."""
    pool = TeacherPool(cfg, Untouchable("windows"), Untouchable("labels"), len(fold["win"].classes), None, "t")
    for spec in (parse_teacher_spec(t, cfg.seed) for t in resolve_settings(cfg).teachers):
        pool.put(spec, fold["pool"].forest(spec) if is_forest(spec) else fold["pool"].get(spec))
    return pool


def test_data_free_student_never_reads_real_training_windows(fold):
    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free"})
    pool = data_free_pool(fold, cfg)  # the teachers are trained on real data, beforehand
    assert [s.arch for s in pool.models] == ["resnet", "gru"]  # the default: the ResNet and the GRU without KD
    x, y = pool.x, pool.y
    job = job_for(fold, cfg, x=x, y=y, teachers=pool, weights=None, no_kd_student=None)
    before = {k: v.clone() for k, v in job.new_student().state_dict().items()}
    result = train_student(job)
    assert any(not torch.equal(before[k], v) for k, v in result.student.state_dict().items()), "student did not train"
    assert result.report["generated_range_g"][1] <= resolve_settings(cfg).generator_range_g
    # The poison works: a method that does read the windows fails the same way.
    with pytest.raises(AssertionError, match="the real training windows"):
        train_student(job_for(fold, tiny_cfg(fold["settings"]), x=x, teachers=pool))


@pytest.mark.parametrize("method", ["none", "kd", "qat-kd", "speq", "ensemble", "feed", "data-free"])
def test_every_method_trains_exports_and_verifies(method, tmp_path, tiny_synthetic):
    from collar_kd.export.exporter import ExportOptions
    from collar_kd.pipeline.export_run import export_run
    from collar_kd.pipeline.train_run import run_training
    from collar_kd.runs import load_model
    from collar_kd.verify.runner import verify_target

    cfg = tiny_cfg(tiny_synthetic, **{"method.name": method})
    metrics = run_training(cfg, tmp_path / "run")
    assert metrics["method"]["name"] == method
    record = json.loads((tmp_path / "run" / "method.json").read_text())
    assert record["name"] == method and record["final"]["method"] == method
    assert record["settings"]["method"]["name"] == method
    if method == "data-free":  # its default second teacher is the run's student without KD, not trained again
        assert record["final"]["teachers"] == [f"resnet:{cfg.seed}", f"gru:{cfg.seed}"]
        timings = json.loads((tmp_path / "run" / "manifest.json").read_text())["method_timings_s"]["final"]
        assert timings["teacher_seconds"][f"gru:{cfg.seed}"] == 0.0
    # The saved student has exactly the plain student's tensors: nothing a method trained with leaks in.
    student, _ = load_model(tmp_path / "run", "student_kd")
    plain_keys = set(GRUStudent(4, 8, 8).state_dict())
    assert set(load_file(str(tmp_path / "run" / "models" / "student_kd.safetensors"))) == plain_keys
    manifest = export_run(tmp_path / "run", tmp_path / "export", ExportOptions(device_rate_hz=10.0, target="eartag", windows=40))
    assert manifest["multiplications_per_window"] == student.mults_per_window(manifest["window_length"])
    assert manifest["trained_by"] == {"name": method, "weight_bits": 8, "calibration": "range", "weight_formats": "row",
                                      "rounding": "compensated"}
    assert manifest["weight_formats"] == "row" and manifest["rounding"] == "compensated"
    v = verify_target(tmp_path / "export", "host", tmp_path / "build")
    assert v.passed, v.detail


def test_cli_method_options_reach_the_run(tmp_path, tiny_synthetic):
    cfg_path = tmp_path / "c.json"
    cfg_path.write_text(json.dumps({**_nested(tiny_config_overrides(tiny_synthetic)), "cv": "none",
                                    "method": {"epochs": 1}}))
    r = runner.invoke(app, ["train", "--config", str(cfg_path), "--out", str(tmp_path / "r"), "--quiet",
                            "--method", "qat-kd", "--alpha-schedule", "linear", "--weight-bits", "4", "--rounding", "nearest"])
    assert r.exit_code == 0, r.output
    record = json.loads((tmp_path / "r" / "method.json").read_text())
    assert record["final"]["weight_bits"] == 4 and record["final"]["alpha_schedule"] == "linear"
    assert record["final"]["alpha_end"] == 0.0 and record["final"]["alpha_start"] == 0.7
    models = json.loads((tmp_path / "r" / "models" / "models.json").read_text())
    assert models["student_kd_method"] == {"name": "qat-kd", "weight_bits": 4, "calibration": "range", "weight_formats": "row",
                                           "rounding": "nearest"}
    # The C export keeps 8 and 16 bits and says so for anything else ...
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tmp_path / "r"), "--out", str(tmp_path / "e"), "--weight-bits", "4"])
    assert r.exit_code == 2 and "8 and 16-bit weights only" in r.output
    assert not (tmp_path / "e").exists()
    # ... also when the 4 bits come from the run, not the user: export follows what the run trained for,
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tmp_path / "r"), "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "trained student_kd for 4-bit weights" in r.output and "--weight-bits 8" in r.output
    # and an explicit, different choice is honoured and said.
    r = runner.invoke(app, ["export", "--device-rate", "10", str(tmp_path / "r"), "--out", str(tmp_path / "e"), "--weight-bits", "8", "--windows", "20"])
    assert r.exit_code == 0, r.output
    assert "note: the run trained student_kd for 4-bit weights; exporting 8-bit as asked" in r.output


def _nested(dotted: dict) -> dict:
    out: dict = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def test_batch_norm_statistics_term_is_zero_on_the_teachers_own_statistics():
    from collar_kd.methods.data_free import BatchNormStatistics, dafl_losses

    torch.manual_seed(0)
    teacher = FCNTeacher(3, [4, 4], [3, 3]).eval()
    x = torch.randn(64, 20, 3)
    # Make the first layer's running statistics exactly those of this batch.
    conv, bn = teacher.body[0], teacher.body[1]
    with torch.no_grad():
        pre = conv(x.transpose(1, 2))
        bn.running_mean.copy_(pre.mean(dim=(0, 2)))
        bn.running_var.copy_(pre.var(dim=(0, 2), unbiased=False))
    hooks = BatchNormStatistics(teacher)
    with torch.no_grad():
        teacher(x)
    first, second = hooks.terms
    assert float(first) < 1e-5 and float(second) > 1e-3
    with torch.no_grad():
        parts = dafl_losses(teacher, 3 * x + 1, hooks)
    assert float(parts["bn_statistics"]) > float(first) and hooks.terms == []
    hooks.close()
    with torch.no_grad():
        teacher(x)
    assert hooks.terms == []  # hooks removed


def test_data_free_with_batch_norm_term_records_it(fold):
    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "method.bn_statistics_weight": 0.5})
    result = train_student(job_for(fold, cfg))
    assert result.report["loss_weights"]["bn_statistics"] == 0.5
    assert all("bn_statistics" in h for h in result.report["generator_loss"])


def test_physics_priors_measure_gravity_and_jerk():
    from collar_kd.methods.data_free import physics_losses

    t = torch.linspace(0, 1, 20)
    still = torch.zeros(4, 20, 3)
    still[:, :, 2] = 1.0  # a collar at rest: 1 g on one axis, no steps
    parts = physics_losses(still, 0.5)
    assert float(parts["gravity"]) == pytest.approx(0.0, abs=1e-7) and float(parts["jerk"]) == 0.0
    saturated = torch.full((4, 20, 3), 2.0)  # the collapsed DAFL generator's +-2 g windows
    assert float(physics_losses(saturated, 0.5)["gravity"]) == pytest.approx((2 * 3**0.5 - 1) ** 2, rel=1e-5)
    jumpy = still.clone()
    jumpy[:, ::2, 0] = 2.0  # 2 g jumps every sample
    assert float(physics_losses(jumpy, 0.5)["jerk"]) == pytest.approx(1.5**2 / 3)  # x axis steps by 2 g
    smooth = still.clone()
    smooth[:, :, 0] = 0.3 * torch.sin(6 * t)
    assert float(physics_losses(smooth, 0.5)["jerk"]) == 0.0


def test_data_free_with_physics_priors_records_them(fold):
    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "method.gravity_weight": 1.0, "method.jerk_weight": 1.0})
    result = train_student(job_for(fold, cfg))
    assert result.report["loss_weights"]["gravity"] == 1.0
    assert all("gravity" in h and "jerk" in h for h in result.report["generator_loss"])


def test_the_forest_teaches_through_soft_labels_it_never_saw_the_animal_of(fold):
    """A forest teacher's soft labels on the training windows are cross-fitted over animals (a
    fully grown forest labels its own training windows almost one-hot), by construction: each
    group of animals is labelled by a forest fitted without it. 'arch' alone takes the run's seed."""
    from collar_kd.distill.teachers import FOREST, forest_logits
    from collar_kd.evaluation.baseline import ForestBaseline

    assert parse_teacher_spec("forest", run_seed=7) == TeacherSpec(FOREST, 7)
    assert parse_teacher_spec("resnet", run_seed=3) == TeacherSpec("resnet", 3)
    cfg, win = fold["cfg"], fold["win"]
    animals = np.array([f"a{i % 3}" for i in range(len(win.y))])  # three "animals" dealt through the windows
    pool = TeacherPool(cfg, win.x, win.y, len(win.classes), None, "k", animals=animals)
    spec = TeacherSpec(FOREST, 0)
    got = pool.logits(spec)
    for g, names in enumerate([["a0"], ["a1"], ["a2"]]):
        held = np.isin(animals, names)
        inner = ForestBaseline.fit(win.x[~held], win.y[~held], len(win.classes), cfg.rf_trees, 0, cfg.class_weighting, 1)
        assert np.array_equal(got[held], forest_logits(inner, win.x[held]))
    full = forest_logits(pool.forest(spec), win.x)
    assert not np.array_equal(got, full)  # not the in-sample labels
    assert np.isfinite(got).all() and np.allclose(np.exp(got).sum(axis=1), 1.0, atol=0.01)
    # A forest is no network: consistent teaching and feature maps are refused with the setting named.
    with pytest.raises(ConfigError, match="method.teachers: 'forest:0' is a forest"):
        pool.get(spec)


def test_ensemble_of_resnet_and_forest_reports_the_combined_teacher(tmp_path, tiny_synthetic):
    from collar_kd.pipeline.train_run import run_training

    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "method.name": "ensemble",
                             "method.teachers": ["resnet", "forest"], "final_models": False, "extra_seeds": [1]})
    metrics = run_training(cfg, tmp_path / "run")
    assert "kd_teacher" in metrics and metrics["kd_teacher"]["mcc"] is not None
    # The combined teacher's classes: the mean of the ResNet's and the forest's probabilities.
    assert "kd_teacher - student" in metrics["seeds"]["paired_differences"]
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    fold = next(iter(method["folds"].values()))
    assert fold["teachers"] == ["resnet:0", "forest:0"]
    assert "Combined teachers of the distilled student" in (tmp_path / "run" / "report.md").read_text()
    r = runner.invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "r2"), "--method", "ensemble",
                            "--teaching", "consistent", "--config", str(_toml(tmp_path, tiny_synthetic, '["resnet", "forest"]')),
                            "--quiet", "--cv", "none"])
    assert r.exit_code == 2 and "method.teachers: 'forest:0' is a forest" in r.output and not (tmp_path / "r2").exists()


def _toml(tmp_path, settings, teachers):
    from tests.conftest import tiny_toml

    path = tiny_toml(settings, tmp_path)
    path.write_text(path.read_text() + f"[method]\nteachers = {teachers}\n")
    return path


def test_the_combined_teacher_averages_probabilities(fold):
    from collar_kd.distill.teachers import CombinedTeacher
    from collar_kd.training.loop import predict_logits

    win, pool = fold["win"], fold["pool"]
    net, forest = pool.get("resnet:0"), pool.forest(TeacherSpec("forest", 0))
    z = predict_logits(net, win.x).astype(np.float64)
    p_net = np.exp(z - z.max(axis=1, keepdims=True))
    p_net /= p_net.sum(axis=1, keepdims=True)
    both = CombinedTeacher([net, forest]).predict_proba(win.x)
    assert np.allclose(both, (p_net + forest.predict_proba(win.x)) / 2)


def test_class_conditional_generator_aims_the_one_hot_term_at_dealt_classes(fold):
    """With method.class_conditional the generator is told a class per window (dealt round-robin)
    and the one-hot term is the teacher's cross-entropy towards that class; it still never
    reads the real windows."""
    from collar_kd.methods.data_free import WindowGenerator, dafl_losses, dealt_classes

    assert dealt_classes(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]
    g = WindowGenerator(8, 20, n_classes=3)
    z = torch.randn(6, 8)
    a, b = g.eval()(z, torch.zeros(6, dtype=torch.long)), g(z, torch.full((6,), 2))
    assert not torch.allclose(a, b)  # the class reaches the window
    teacher = fold["pool"].get(fold["pool"].main_spec).eval()
    k = len(fold["win"].classes)
    xg = torch.randn(2 * k, 20, 3)
    classes = dealt_classes(2 * k, k)
    logits = teacher(xg)
    assert float(dafl_losses(teacher, xg, classes=classes)["one_hot"].detach()) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, classes).detach()), rel=1e-5)
    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "method.class_conditional": True})
    pool = data_free_pool(fold, cfg)
    result = train_student(job_for(fold, cfg, x=pool.x, y=pool.y, teachers=pool, weights=None, no_kd_student=None))
    assert result.report["class_conditional"] is True
    with pytest.raises(ConfigError, match="method.class_conditional"):
        tiny_cfg(fold["settings"], **{"method.name": "data-free", "method.class_conditional": "yes"})


def test_a_forest_teacher_with_one_training_animal_labels_its_own_windows(fold):
    """A two-animal farm: each fold trains on one animal, so there is nothing to cross-fit over;
    the forest's own soft labels are used (said in the log) instead of refusing the default recipe."""
    from collar_kd.distill.teachers import FOREST, forest_logits

    cfg, win = fold["cfg"], fold["win"]
    pool = TeacherPool(cfg, win.x, win.y, len(win.classes), None, "k", animals=np.array(["only"] * len(win.y)))
    spec = TeacherSpec(FOREST, 0)
    assert np.array_equal(pool.logits(spec), forest_logits(pool.forest(spec), win.x))


def test_gravity_built_windows_are_one_g_of_gravity_plus_zero_mean_motion():
    """method.generator_form = "gravity": every generated window's mean over time is a unit vector
    (1 g, a direction the generator chose) and the motion about it stays within motion_range_g,
    whatever the generator's weights; "free" windows have no such structure."""
    from collar_kd.methods.data_free import WindowGenerator

    torch.manual_seed(0)
    g = WindowGenerator(8, 20, range_g=4.0, form="gravity", motion_range_g=0.5).eval()
    with torch.no_grad():
        x = g(torch.randn(16, 8))
    mean = x.mean(dim=1)
    torch.testing.assert_close(mean.norm(dim=1), torch.ones(16), atol=1e-5, rtol=0)
    assert float((x - mean.unsqueeze(1)).abs().max()) <= 1.0  # zero-mean motion, each side of 1 g
    with torch.no_grad():
        free = WindowGenerator(8, 20, range_g=4.0).eval()(torch.randn(16, 8))
    assert not torch.allclose(free.mean(dim=1).norm(dim=1), torch.ones(16), atol=1e-2)


def test_adversarial_disagreement_is_the_soft_term_scaled_by_t_squared():
    """The adversarial generator maximises kl_term, the student's own soft term."""
    z = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert float(kl_term(z, z, 4.0)) == pytest.approx(0.0, abs=1e-5)  # float32, times T^2 = 16
    # By hand, T = 1: teacher (0.5, 0.5), student softmax(ln 3, 0) = (0.75, 0.25):
    # KL = 0.5 ln(0.5 / 0.75) + 0.5 ln(0.5 / 0.25) = 0.5 ln(4 / 3).
    t, s = torch.zeros(1, 2), torch.tensor([[float(np.log(3.0)), 0.0]])
    assert float(kl_term(s, t, 1.0)) == pytest.approx(0.5 * np.log(4 / 3), rel=1e-6)
    assert float(kl_term(2 * s, 2 * t, 2.0)) == pytest.approx(4 * 0.5 * np.log(4 / 3), rel=1e-6)


def test_adversarial_generator_steps_drive_teacher_and_student_apart_and_train_neither(fold):
    """DFAD's stage: generator steps with the student push the teacher-student disagreement on
    generated windows up (a wrong sign would push it down), and change neither network."""
    from collar_kd.methods.data_free import GeneratorTraining

    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "method.adversarial_weight": 100.0,
                                       "method.generator_lr": 1e-2})
    m = resolve_settings(cfg)
    teacher = fold["pool"].get(fold["pool"].main_spec)
    torch.manual_seed(1)
    student = GRUStudent(len(fold["win"].classes), cfg.student.hidden, cfg.student.head)
    nets = {"teacher": teacher, "student": student}
    before = {k: {n: v.clone() for n, v in net.state_dict().items()} for k, net in nets.items()}
    grads = {k: [None if p.grad is None else p.grad.clone() for p in net.parameters()] for k, net in nets.items()}
    training = GeneratorTraining(teacher, m, fold["win"].length, seed=3)
    z = torch.randn(64, m.generator_latent, generator=torch.Generator().manual_seed(9))

    def gap() -> float:
        with torch.no_grad():
            xg = training.gen.train()(z)
            return float(kl_term(student(xg), teacher.eval()(xg), 4.0))

    start = gap()
    for _ in range(15):
        training.step(student, 4.0)
    training.done()
    assert gap() > 2 * start
    assert all(h["adversarial"] and "disagreement" in h for h in training.history)
    for k, net in nets.items():
        assert all(torch.equal(before[k][n], v) for n, v in net.state_dict().items()), f"the {k} changed"
        assert all(p.requires_grad for p in net.parameters()), f"the {k}'s parameters stay frozen"
        assert all((g is None and p.grad is None) or (g is not None and torch.equal(g, p.grad))
                   for g, p in zip(grads[k], net.parameters())), f"the {k} got gradients"


def test_generator_teachers_networks_pull_the_generator_towards_every_network(fold):
    """generator_teachers = "networks": the other network teachers' one-hot terms join DAFL's, so
    steps raise what the second network gives the class each window is generated for (a wrong sign
    or a dropped term would not), and neither teacher changes."""
    from collar_kd.methods.data_free import GeneratorTraining, dealt_classes

    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "method.generator_teachers": "networks",
                                       "method.generator_lr": 1e-2, "method.generator_batch": 32})
    m = resolve_settings(cfg)
    n = len(fold["win"].classes)
    teacher = fold["pool"].get(fold["pool"].main_spec)
    torch.manual_seed(2)
    gru = GRUStudent(n, cfg.student.hidden, cfg.student.head).eval()
    with torch.no_grad():  # an untrained GRU answers nearly the same for every window: make it opinionated
        for p in gru.parameters():
            p.mul_(4.0)
    before = {k: v.clone() for k, v in gru.state_dict().items()}
    z = torch.randn(64, m.generator_latent, generator=torch.Generator().manual_seed(9))
    classes = dealt_classes(64, n)

    def gru_agrees(training) -> float:
        with torch.no_grad():
            return float(torch.log_softmax(gru(training.gen.train()(z, classes)), dim=1)[torch.arange(64), classes].mean())

    with_gru = GeneratorTraining(teacher, m, fold["win"].length, seed=3, n_classes=n, others=(gru,))
    alone = GeneratorTraining(teacher, m, fold["win"].length, seed=3, n_classes=n)
    start = gru_agrees(with_gru)
    assert start == gru_agrees(alone)  # the same generator to begin with
    for _ in range(20):
        with_gru.step()
        alone.step()
    with_gru.done()
    alone.done()
    assert gru_agrees(with_gru) > start + 0.1 and gru_agrees(with_gru) > gru_agrees(alone) + 0.1
    assert all("one_hot_1" in h for h in with_gru.history) and not any("one_hot_1" in h for h in alone.history)
    assert all(torch.equal(before[k], v) for k, v in gru.state_dict().items()) and all(p.requires_grad for p in gru.parameters())


@pytest.mark.parametrize("extra,fresh", [({"method.fresh_windows": True, "method.adversarial_steps": 0}, True),
                                         ({"method.adversarial_steps": 2}, True), ({"method.adversarial_steps": 0}, False)])
def test_fresh_windows_give_the_student_new_windows_every_epoch(fold, monkeypatch, extra, fresh):
    """With fresh_windows (or the adversarial stage, which implies it) the windows the student
    trains on are rewritten between epochs, and never read from the real training windows;
    without, every epoch sees the same windows."""
    import collar_kd.methods.data_free as data_free

    seen = []
    real_fit = data_free.fit

    def recording_fit(model, x, *args, on_epoch=None, **kw):
        def wrapped(epoch, loss):
            on_epoch(epoch, loss)
            seen.append(x.clone())
        seen.append(x.clone())
        return real_fit(model, x, *args, on_epoch=wrapped, **kw)

    monkeypatch.setattr(data_free, "fit", recording_fit)
    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "student.epochs": 3, **extra})
    pool = data_free_pool(fold, cfg)
    result = train_student(job_for(fold, cfg, x=pool.x, y=pool.y, teachers=pool, weights=None, no_kd_student=None))
    changed = [not torch.equal(a, b) for a, b in zip(seen[:2], seen[1:3])]  # after epochs 1 and 2 (not after the last)
    assert changed == [fresh, fresh]
    assert result.report["fresh_windows"] is fresh


def test_data_free_student_averaged_over_its_last_epochs(fold, monkeypatch):
    """method.average_epochs = K hands over the mean of the student's weights at the end of its
    last K epochs, of the very trajectory the student without averaging follows (the last epoch's
    weights are that student's); 0, the default, hands over the last epoch's weights."""
    import collar_kd.methods.data_free as data_free
    from collar_kd.training.averaging import averaged_state

    real_fit = data_free.fit

    def run(**extra):
        states = []

        def recording_fit(model, *args, on_epoch=None, **kw):
            def wrapped(epoch, loss):
                states.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
                on_epoch(epoch, loss)
            return real_fit(model, *args, on_epoch=wrapped, **kw)

        monkeypatch.setattr(data_free, "fit", recording_fit)
        cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "student.epochs": 4, **extra})
        pool = data_free_pool(fold, cfg)
        result = train_student(job_for(fold, cfg, x=pool.x, y=pool.y, teachers=pool, weights=None, no_kd_student=None))
        return result, states

    last, states = run()
    averaged, states_again = run(**{"method.average_epochs": 3})
    assert len(states) == 4 and all(torch.equal(a[k], b[k]) for a, b in zip(states, states_again) for k in a)  # one trajectory
    assert all(torch.equal(v, states[-1][k]) for k, v in last.student.state_dict().items())
    want = averaged_state(states[-3:])
    assert all(torch.equal(v, want[k]) for k, v in averaged.student.state_dict().items())
    assert any(not torch.equal(v, states[-1][k]) for k, v in averaged.student.state_dict().items())
    assert (last.report["averaged_epochs"], averaged.report["averaged_epochs"]) == (0, 3)


@pytest.mark.parametrize("teaching", ["consistent", "cached"])
@pytest.mark.parametrize("others,fresh", [(["gru"], False), (["gru", "forest"], False), (["gru", "forest"], True)])
def test_data_free_student_learns_the_mean_of_its_teachers(fold, monkeypatch, teaching, others, fresh):
    """method.teachers = [resnet, gru(, forest)]: the ResNet trains the generator, and the
    student's soft labels on the generated windows, batch by batch (consistent) or once (cached),
    are the teachers' averaged probabilities at the KD temperature; a forest's come from its
    labels of each window as generated. Still no real window is read."""
    import collar_kd.methods.data_free as data_free
    from collar_kd.distill.teachers import FOREST_PROBABILITY_FLOOR, TeacherSpec
    from collar_kd.training.loop import predict_logits

    seen = {}
    real_fit = data_free.fit

    def recording_fit(model, x, *args, targets=None, **kw):
        out = real_fit(model, x, *args, targets=targets, **kw)
        seen["x"], seen["targets"] = x.clone(), targets  # with fresh windows: the last set, relabelled
        return out

    monkeypatch.setattr(data_free, "fit", recording_fit)
    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "method.teachers": ["resnet", *others],
                                        "method.teaching": teaching, "augment_rotation_deg": 30.0,
                                        "method.fresh_windows": fresh, "student.epochs": 3})
    x, y = Untouchable("windows"), Untouchable("labels")
    n = len(fold["win"].classes)
    pool = TeacherPool(cfg, x, y, n, None, "t")
    resnet = fold["pool"].get(fold["pool"].main_spec)
    torch.manual_seed(5)
    gru = GRUStudent(n, cfg.student.hidden, cfg.student.head).eval()  # stands in for the GRU trained on real data
    pool.put(pool.main_spec, resnet)
    pool.put(TeacherSpec("gru", cfg.seed), gru)
    forest_spec = TeacherSpec("forest", cfg.seed)
    forest = fold["pool"].forest(forest_spec)  # fitted on the real windows beforehand, as the networks were trained
    pool.put(forest_spec, forest)
    result = train_student(job_for(fold, cfg, x=x, y=y, teachers=pool, weights=None, no_kd_student=None))
    assert result.report["teachers"] == [f"resnet:{cfg.seed}"] + [f"{o}:{cfg.seed}" for o in others]
    assert result.report["teaching"] == teaching and result.report["fresh_windows"] is fresh
    xb = seen["x"][:8]
    t = cfg.kd.temperature
    probs = [torch.softmax(torch.from_numpy(predict_logits(m, xb.numpy())) / t, dim=1) for m in (resnet, gru)]
    if "forest" in others:
        p = np.maximum(forest.predict_proba(xb.numpy()), FOREST_PROBABILITY_FLOOR)
        probs.append(torch.softmax(torch.from_numpy(np.log(p)).float() / t, dim=1))
    expected = torch.stack(probs).mean(dim=0)
    rotated = xb @ torch.linalg.matrix_exp(torch.tensor([[0.0, -0.3, 0.0], [0.3, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    got = torch.softmax(seen["targets"](xb, torch.arange(8)).cpu().float() / t, dim=1)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, probs[0], atol=1e-3)  # the other teachers' votes count, not the ResNet's alone
    if teaching == "consistent" and "forest" in others:
        # The networks label the window as handed over (turned), the forest as generated.
        turned = [torch.softmax(torch.from_numpy(predict_logits(m, rotated.numpy())) / t, dim=1) for m in (resnet, gru)]
        want = torch.stack([*turned, probs[2]]).mean(dim=0)
        assert torch.allclose(torch.softmax(seen["targets"](rotated, torch.arange(8)).cpu().float() / t, dim=1), want, atol=1e-5)


@pytest.mark.parametrize("line,field", [("adversarial_steps = -3", "method.adversarial_steps"),
                                        ("adversarial_weight = -1.0", "method.adversarial_weight"),
                                        ('fresh_windows = "often"', "method.fresh_windows"),
                                        ('teachers = ["forest", "resnet"]', "method.teachers"),
                                        ("average_epochs = -2", "method.average_epochs")])
def test_cli_refuses_bad_adversarial_settings_naming_them(tmp_path, line, field):
    config = tmp_path / "c.toml"
    config.write_text(f'[method]\nname = "data-free"\n{line}\n')
    r = runner.invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "r"), "--config", str(config),
                            "--quiet", "--cv", "none"])
    assert r.exit_code == 2 and field in r.output and not (tmp_path / "r").exists()


@pytest.mark.parametrize("extra,mode", [({"augment_rotation_deg": 30.0}, "consistent"),
                                        ({"augment_rotation_deg": 30.0, "method.teaching": "cached"}, "cached"),
                                        ({"augment_rotation_deg": 0.0, "augment_rotation_axes_deg": None}, "cached")])
def test_data_free_teaches_the_rotated_window_by_default(fold, monkeypatch, extra, mode):
    """method.teaching (its own, not kd.teaching): by default the teacher labels every batch as the
    student sees it, after rotation; "cached" labels each generated window once; without
    augmentation the two are the same and the labels are cached."""
    import collar_kd.methods.data_free as data_free

    seen = {}
    real_fit = data_free.fit

    def recording_fit(*args, targets=None, **kw):
        seen["labels_its_input"] = getattr(targets, "labels_its_input", False)
        return real_fit(*args, targets=targets, **kw)

    monkeypatch.setattr(data_free, "fit", recording_fit)
    cfg = tiny_cfg(fold["settings"], **{"method.name": "data-free", "kd.teaching": "cached", **extra})
    result = train_student(job_for(fold, cfg))
    assert result.report["teaching"] == mode
    assert seen["labels_its_input"] is (mode == "consistent")


@pytest.mark.parametrize("value, message", [("ih=12", "method.layer_weight_bits.ih: must be one of"),
                                            ("gru=16", "method.layer_weight_bits: 'gru' is not a layer"),
                                            ("ih:16", "--layer-weight-bits: expected LAYER=BITS")])
def test_train_layer_weight_bits_bad_values_exit_2(tmp_path, value, message):
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--quiet", "--layer-weight-bits", value])
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "r").exists()


def test_train_rounding_bad_value_exits_2_and_good_values_reach_the_config(tmp_path):
    from collar_kd.config import load_config

    r = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--quiet", "--rounding", "floor"])
    assert r.exit_code == 2 and "method.rounding: must be one of nearest, compensated, not 'floor'" in r.output, r.output
    assert not (tmp_path / "r").exists()
    assert load_config(None, {}).method.quantizer_args()["rounding"] == "compensated"  # the default
    cfg = load_config(None, {"method.rounding": "nearest"})
    assert cfg.method.quantizer_args()["rounding"] == "nearest" and cfg.method.precision()["rounding"] == "nearest"


def test_train_layer_weight_bits_reach_the_config():
    from collar_kd.cli import _layer_bits
    from collar_kd.config import load_config

    cfg = load_config(None, {"method.layer_weight_bits": _layer_bits(["ih=16", "hh=16"])})
    assert cfg.method.layer_bits() == {"ih": 16, "hh": 16}
    assert cfg.method.precision()["layer_weight_bits"] == {"ih": 16, "hh": 16}
    assert load_config(None, {"method.layer_weight_bits": {"ih": 8}}).method.layer_bits() == {}  # the run's own width
