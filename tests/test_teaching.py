"""Consistent teaching: with augmentation on, the teacher labels the very batch the student sees
(function matching); cached labels belong to the unaugmented windows. `auto` picks the first
when training augments."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from collar_kd.config import KDConfig
from collar_kd.distill.losses import make_loss
from collar_kd.distill.targets import cached_targets, consistent_targets, teaching_mode
from collar_kd.errors import ConfigError
from collar_kd.training.augment import Augmentation
from collar_kd.training.loop import fit, predict_logits


class Recorder(nn.Module):
    """A model that remembers every batch it is given; its output depends on orientation
    (the per-axis mean), so a rotated window gets different logits."""

    def __init__(self, trainable: bool):
        super().__init__()
        self.w = nn.Parameter(torch.eye(3), requires_grad=trainable)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x.mean(dim=1) @ self.w


def windows(n=40, t=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, t, 3)).astype(np.float32)
    x[:, :, 2] += 1.0  # gravity on z: rotations move it to other axes
    return x, rng.integers(0, 3, n)


def test_consistent_teacher_labels_the_same_rotated_batch_the_student_sees():
    x, y = windows()
    student, teacher = Recorder(True), Recorder(False)
    fit(student, x, y, make_loss(KDConfig()), 2, 8, 1e-2, 0, targets=consistent_targets([teacher], 4.0), augment=Augmentation(rotation_deg=90.0))
    assert len(teacher.seen) == len(student.seen) > 0
    for s, t in zip(student.seen, teacher.seen):
        assert torch.equal(s, t)
    # The batches really were rotated: they are not the stored windows.
    assert not any(torch.equal(s, torch.from_numpy(x[: len(s)])) for s in student.seen)


def test_cached_targets_belong_to_the_unrotated_windows():
    x, y = windows()
    teacher = Recorder(False)
    logits = predict_logits(teacher, x)
    teacher.seen.clear()
    student = Recorder(True)
    got = []
    cached = cached_targets(logits)

    def spy(xb, idx):
        t = cached(xb, idx)
        got.append((xb.clone(), t))
        return t

    fit(student, x, y, make_loss(KDConfig()), 1, 8, 1e-2, 0, targets=spy, augment=Augmentation(rotation_deg=90.0))
    assert not teacher.seen  # the teacher never ran during training
    # what the student was compared with differs from the teacher's answer on what the student saw
    assert any(not torch.allclose(t, teacher(xb)) for xb, t in got)


def test_ensemble_consistent_targets_average_probabilities():
    a, b = Recorder(False), Recorder(False)
    with torch.no_grad():
        b.w.mul_(-2.0)
    xb = torch.from_numpy(windows(4)[0])
    z = consistent_targets([a, b], 2.0)(xb, torch.arange(4))
    p = (torch.softmax(a(xb) / 2, 1) + torch.softmax(b(xb) / 2, 1)) / 2
    assert torch.allclose(torch.softmax(z / 2, 1), p, atol=1e-6)


def test_teaching_mode():
    assert teaching_mode("auto", True) == "consistent" and teaching_mode("auto", False) == "cached"
    assert teaching_mode("cached", True) == "cached" and teaching_mode("consistent", False) == "consistent"
    with pytest.raises(ConfigError, match="kd.teaching"):
        teaching_mode("psychic", True)


def test_unlabelled_windows_teach_through_the_soft_term_only():
    from collar_kd.distill.losses import kd_loss, kl_term, with_unlabelled

    torch.manual_seed(0)
    s, t = torch.randn(6, 4), torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, -1, -1, -1])
    kd = KDConfig(alpha=0.7, temperature=3.0)
    got = with_unlabelled(kd)(s, y, t, None)
    want = 0.3 * torch.nn.functional.cross_entropy(s[:3], y[:3]) + 0.7 * kl_term(s, t, 3.0)
    assert torch.allclose(got, want)
    assert torch.allclose(with_unlabelled(kd)(s, torch.full((6,), -1), t, None), 0.7 * kl_term(s, t, 3.0))
    # all labelled: Hinton's loss
    y_all = torch.tensor([0, 1, 2, 3, 0, 1])
    assert torch.allclose(with_unlabelled(kd)(s, y_all, t, None), kd_loss(s, y_all, t, 0.7, 3.0))


def test_transductive_row_sees_held_out_windows_but_never_their_labels(tiny_synthetic, tmp_path, monkeypatch):
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from tests.conftest import tiny_config_overrides

    seen = []
    original = run_mod.train_all

    def spy(cfg, win, key, progress, unlabelled_x=None, transductive_x=None):
        seen.append((set(np.unique(win.animal).tolist()), transductive_x, key))
        return original(cfg, win, key, progress, unlabelled_x=unlabelled_x, transductive_x=transductive_x)

    monkeypatch.setattr(run_mod, "train_all", spy)
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "transductive": True, "final_models": False})
    metrics = run_mod.run_training(cfg, tmp_path / "run")
    assert "student_kd_transductive" in metrics and "student_kd" in metrics
    folds = {f["key"]: f["animal"] for f in metrics["folds"]}
    for animals, unlabelled, key in seen:
        held = folds[key]
        assert held not in animals  # no held-out labels in the labelled training windows
        assert isinstance(unlabelled, np.ndarray) and unlabelled.ndim == 3  # windows only, no labels passed
    assert len(seen) == len(folds)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "not a strict leave-one-animal-out result" in report
    bad = load_config(None, {**tiny_config_overrides(tiny_synthetic), "transductive": True, "method.name": "speq"})
    with pytest.raises(ConfigError, match="transductive: method 'speq' does not learn from unlabelled"):
        run_mod.run_training(bad, tmp_path / "r2")


def test_unlabelled_recordings_are_learned_from_without_their_labels(tiny_synthetic, tmp_path, monkeypatch):
    """--unlabelled: the recordings' windows reach the distilled student as x alone; a label
    array that raises on any use proves training never reads it."""
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from collar_kd.data.synthetic import SyntheticSettings, generate, write_csv
    from tests.conftest import tiny_config_overrides

    class Poison(np.ndarray):
        def __array_finalize__(self, obj):
            pass

        def __getitem__(self, key):
            raise AssertionError("training read the labels of the unlabelled recordings")

    original = run_mod.unlabelled_windows

    def poisoned(cfg, labelled):
        extra = original(cfg, labelled)
        extra.y = np.zeros(len(extra.x), dtype=np.int64).view(Poison)
        with pytest.raises(AssertionError):  # the poison bites
            extra.y[0]
        return extra

    monkeypatch.setattr(run_mod, "unlabelled_windows", poisoned)
    csv = tmp_path / "field.csv"
    write_csv(generate(SyntheticSettings.from_file(tiny_synthetic), seed=5), csv)
    seen = []
    orig_train = run_mod.train_student

    def spy(job):
        seen.append(0 if job.unlabelled_x is None else len(job.unlabelled_x))
        return orig_train(job)

    monkeypatch.setattr(run_mod, "train_student", spy)
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "unlabelled.path": str(csv), "unlabelled.format": "csv",
                             "data.csv_sample_rate": 10.0})
    metrics = run_mod.run_training(cfg, tmp_path / "run")
    assert metrics["unlabelled"]["windows"] > 0 and all(n > 0 for n in seen)
    # The held-out animal's unlabelled windows are left out of its fold (same animal names here).
    per_fold = seen[:-1]
    assert all(n < metrics["unlabelled"]["windows"] for n in per_fold) and seen[-1] == metrics["unlabelled"]["windows"]


def remembering_pool(monkeypatch, animals: np.ndarray, overrides: dict, trained: list | None = None):
    """A teacher pool whose networks are fakes that remember which animals they were trained on
    and answer with logits naming them (1 for an animal seen, 0 otherwise, in sorted order);
    `trained` collects the architecture of every teacher trained. Returns the pool, its windows
    (each carrying its own index, so a fake can look up its animal) and the animal names."""
    import collar_kd.distill.teachers as teachers
    from collar_kd.config import load_config

    x = np.zeros((len(animals), 6, 3), dtype=np.float32)
    x[:, 0, 0] = np.arange(len(animals))
    names = sorted(set(animals))

    class Remembering(torch.nn.Module):
        def __init__(self, seen):
            super().__init__()
            self.seen = seen

        def forward(self, xb):
            return torch.tensor([[float(a in self.seen) for a in names]] * len(xb))

    def train(self, spec):
        self.seconds[spec] = 0.0
        if trained is not None:
            trained.append(spec.arch)
        return Remembering(set(animals[self.x[:, 0, 0].astype(int)]))

    monkeypatch.setattr(teachers.TeacherPool, "_train", train)
    pool = teachers.TeacherPool(load_config(None, overrides), x, np.arange(len(animals)) % 2, len(names), None, "test",
                                animals=animals)
    return pool, x, names


def test_crossfit_soft_labels_never_come_from_a_teacher_that_saw_the_animal(monkeypatch):
    """By construction: each fake teacher remembers which animals it was trained on and answers
    with logits that name them; every window's soft label must come from a teacher whose
    training animals exclude the window's own."""
    from collar_kd.distill.targets import soft_targets

    animals = np.repeat(np.array(["a", "b", "c", "d", "e"]), 4)
    pool, x, names = remembering_pool(monkeypatch, animals, {"kd.teaching": "crossfit", "kd.crossfit_groups": 2})
    targets, mode = soft_targets(pool, [pool.main_spec], "crossfit", 4.0, True, crossfit_groups=2)
    assert mode == "crossfit"
    logits = targets(torch.from_numpy(x), torch.arange(len(x))).numpy()
    for i, a in enumerate(animals):
        seen = {names[j] for j in range(len(names)) if logits[i, j] == 1.0}
        assert a not in seen and len(seen) >= 2  # an inner teacher, trained on other animals only
    # The full teacher (cached mode) saw every animal.
    cached, _ = soft_targets(pool, [pool.main_spec], "cached", 4.0, True)
    assert (cached(torch.from_numpy(x), torch.arange(len(x))).numpy() == 1.0).all()


def test_crossfit_teachers_cross_fits_the_listed_network_teachers_only(monkeypatch):
    """kd.crossfit_teachers = ["gru"] under cached teaching: the gru teacher's soft labels of each
    training window come from an inner teacher that never saw the window's animal; the ResNet,
    not listed, labels with the full teacher, which saw them all (fake teachers that name the
    animals they were trained on, as above)."""
    import collar_kd.distill.teachers as teachers
    from collar_kd.distill.targets import soft_targets

    animals = np.repeat(np.array(["a", "b", "c", "d"]), 3)
    trained: list = []
    pool, x, names = remembering_pool(monkeypatch, animals, {"kd.crossfit_teachers": ["gru"], "kd.crossfit_groups": 2},
                                      trained)
    gru, resnet = teachers.TeacherSpec("gru", 0), teachers.TeacherSpec("resnet", 0)
    g, r = pool.logits(gru), pool.logits(resnet)
    for i, a in enumerate(animals):
        seen = {names[j] for j in range(len(names)) if g[i, j] == 1.0}
        assert a not in seen and len(seen) == 2  # an inner gru, trained on the other group only
    assert (r == 1.0).all()  # the full ResNet
    assert sorted(trained) == ["gru", "gru", "resnet"]  # two inner grus; no full gru for the training windows
    # soft_targets in cached mode takes the same cross-fitted labels.
    targets, mode = soft_targets(pool, [gru], "cached", 4.0, True)
    assert mode == "cached" and np.allclose(targets(torch.from_numpy(x), torch.arange(len(x))).numpy(), g)


def test_crossfit_teachers_knows_every_network_teacher():
    """The config's list of network teachers (it cannot import the models) is the pool's."""
    from collar_kd.config import NETWORK_TEACHERS
    from collar_kd.distill.teachers import GRU
    from collar_kd.models import TEACHER_ARCHS

    assert set(NETWORK_TEACHERS) == {*TEACHER_ARCHS, GRU}


def test_crossfit_teachers_bad_values_name_the_setting(tiny_synthetic, tmp_path):
    from typer.testing import CliRunner

    from collar_kd.cli import app
    from conftest import tiny_toml

    cfg = tiny_toml(tiny_synthetic, tmp_path)
    # The last: a network no teacher of the method (plain kd: the run's ResNet) is.
    for value in ('["forest"]', '["gru", "gru"]', '"gru"', '["gru"]'):
        bad = tmp_path / "bad.toml"
        bad.write_text(cfg.read_text() + f"\n[kd]\ncrossfit_teachers = {value}\n")
        r = CliRunner().invoke(app, ["train", "--config", str(bad), "--out", str(tmp_path / "r"), "-q"])
        assert r.exit_code == 2 and "kd.crossfit_teachers" in r.output, (value, r.output)
        assert not (tmp_path / "r").exists()
    # A method that distils no soft labels of the pool (speq: no teacher; none) cross-fits nothing.
    for method in ("speq", "none"):
        r = CliRunner().invoke(app, ["train", "--config", str(bad), "--method", method, "--out", str(tmp_path / "r"), "-q"])
        assert r.exit_code == 2 and "kd.crossfit_teachers" in r.output and "soft labels" in r.output, (method, r.output)
        assert not (tmp_path / "r").exists()
    bad.write_text(cfg.read_text() + '\n[kd]\ncrossfit_teachers = ["resnet"]\n')
    r = CliRunner().invoke(app, ["train", "--config", str(bad), "--method", "speq", "--out", str(tmp_path / "r"), "-q"])
    assert r.exit_code == 2 and "does not distil" in r.output, r.output
    # Accepted where a teacher of the method has that architecture.
    from collar_kd.config import load_config
    from collar_kd.pipeline.train_run import resolve_method

    ok = load_config(None, {"kd.crossfit_teachers": ["gru"], "method.name": "ensemble", "method.teachers": ["resnet", "gru"]})
    assert resolve_method(ok).teachers == ["resnet", "gru"]


def test_crossfit_end_to_end_and_its_settings(tiny_synthetic, tmp_path):
    from typer.testing import CliRunner

    from collar_kd.cli import app
    from conftest import tiny_toml

    cfg = tiny_toml(tiny_synthetic, tmp_path)
    r = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--teaching", "crossfit",
                                 "--no-final", "-q"])
    assert r.exit_code == 0, r.output
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["teaching"] == "crossfit" for f in method["folds"].values())
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg.read_text() + "\n[kd]\ncrossfit_groups = 1\n")
    r = CliRunner().invoke(app, ["train", "--config", str(bad), "--out", str(tmp_path / "r2"), "-q"])
    assert r.exit_code == 2 and "kd.crossfit_groups" in r.output


def test_fine_tuned_transductive_student_starts_from_the_strict_one(tiny_synthetic, tmp_path, monkeypatch):
    """transductive_epochs = N: the transductive student is the strict distilled student of the
    same fold, fine-tuned N epochs at student.lr * transductive_lr_scale on the training windows
    and the held-out ones (those without labels)."""
    import collar_kd.methods.plain as plain
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from tests.conftest import tiny_config_overrides

    calls = []
    original = plain.fit

    def spy(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw):
        start = {k: v.clone() for k, v in model.state_dict().items()}
        out = original(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw)
        calls.append({"start": start, "end": {k: v.clone() for k, v in model.state_dict().items()},
                      "epochs": epochs, "lr": lr, "unlabelled": int((y < 0).sum())})
        return out

    monkeypatch.setattr(plain, "fit", spy)
    over = {**tiny_config_overrides(tiny_synthetic), "transductive": True, "final_models": False,
            "transductive_epochs": 2, "transductive_lr_scale": 0.25}
    cfg = load_config(None, over)
    metrics = run_mod.run_training(cfg, tmp_path / "run")
    assert "student_kd_transductive" in metrics
    assert len(calls) == 2 * len(metrics["folds"])  # per fold: the strict student, then its fine-tuning
    for strict, tuned in zip(calls[::2], calls[1::2]):
        assert strict["epochs"] == cfg.student.epochs and strict["unlabelled"] == 0
        assert tuned["epochs"] == 2 and tuned["lr"] == pytest.approx(cfg.student.lr * 0.25)
        assert tuned["unlabelled"] > 0
        assert all(torch.equal(tuned["start"][k], strict["end"][k]) for k in strict["end"])
        assert not all(torch.equal(tuned["end"][k], strict["end"][k]) for k in strict["end"])  # it did train
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["transductive"]["start"] == "student_kd" for f in method["folds"].values())
    # Durations live in the manifest only: method.json stays a function of data, settings and seed.
    timings = json.loads((tmp_path / "run" / "manifest.json").read_text())["method_timings_s"]["folds"]
    assert set(timings) == set(method["folds"])
    for key, t in timings.items():
        assert t["fold"]["seconds"] > 0 and t["no_kd_student"]["seconds"] > 0 and t["transductive"]["seconds"] > 0
        assert not {"fold", "no_kd_student"} & set(method["folds"][key]) and "seconds" not in method["folds"][key]["transductive"]


@pytest.mark.parametrize("start_epochs", [0, 1])
def test_distilled_student_can_start_from_the_student_without_kd(tiny_synthetic, tmp_path, monkeypatch, start_epochs):
    """kd.start = "no_kd_student": every fold's distilled student begins with the weights the
    fold's student without KD ended with, and trains kd.start_epochs epochs (0: the [student]
    ones); that student itself is left as it was."""
    import collar_kd.methods.plain as plain
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from tests.conftest import tiny_config_overrides

    calls, students = [], []
    original, plain_student = plain.fit, run_mod.train_plain_student

    def spy(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw):
        start = {k: v.clone() for k, v in model.state_dict().items()}
        out = original(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw)
        calls.append({"start": start, "end": {k: v.clone() for k, v in model.state_dict().items()}, "epochs": epochs})
        return out

    def keep(*a, **kw):
        student = plain_student(*a, **kw)
        students.append((student, {k: v.clone() for k, v in student.state_dict().items()}))
        return student

    monkeypatch.setattr(plain, "fit", spy)
    monkeypatch.setattr(run_mod, "train_plain_student", keep)
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "final_models": False,
                             "kd.start": "no_kd_student",
                             "kd.start_epochs": start_epochs})
    metrics = run_mod.run_training(cfg, tmp_path / "run")
    assert len(calls) == len(students) == len(metrics["folds"])
    for call, (student, trained) in zip(calls, students):
        assert call["epochs"] == (start_epochs or cfg.student.epochs)
        assert all(torch.equal(call["start"][k], trained[k]) for k in trained)
        assert not all(torch.equal(call["end"][k], trained[k]) for k in trained)  # it did train
        assert all(torch.equal(v, trained[k]) for k, v in student.state_dict().items())  # the copy trained, not it
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["start"] == {"from": "student", "epochs": start_epochs or cfg.student.epochs}
               for f in method["folds"].values())


def test_distilled_student_trains_kd_epochs_from_fresh_weights(tiny_synthetic, tmp_path, monkeypatch):
    """kd.epochs: the distilled student (fresh weights) trains that many epochs, the student
    without KD its [student] ones, and method.json records the distilled student's per fold."""
    import collar_kd.methods.plain as plain
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from tests.conftest import tiny_config_overrides

    distilled, plain_epochs = [], []
    original_distil, original_plain = plain.fit, run_mod.fit

    def spy_distil(model, x, y, loss_fn, epochs, *a, **kw):
        distilled.append(epochs)
        return original_distil(model, x, y, loss_fn, epochs, *a, **kw)

    def spy_plain(model, x, y, loss_fn, epochs, *a, **kw):
        plain_epochs.append(epochs)
        return original_plain(model, x, y, loss_fn, epochs, *a, **kw)

    monkeypatch.setattr(plain, "fit", spy_distil)
    monkeypatch.setattr(run_mod, "fit", spy_plain)
    overrides = tiny_config_overrides(tiny_synthetic)
    cfg = load_config(None, {**overrides, "final_models": False, "student.epochs": 3, "kd.epochs": 1})
    metrics = run_mod.run_training(cfg, tmp_path / "run")
    folds = len(metrics["folds"])
    assert distilled == [1] * folds and plain_epochs == [3] * folds
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["epochs"] == 1 for f in method["folds"].values())


def test_quantization_aware_finish_tunes_the_distilled_student_towards_itself(tiny_synthetic, tmp_path, monkeypatch):
    """kd.qat_epochs: once per fold, the distilled student (and no other) goes through the
    fake-quantized graph of the run's word length, towards its own float logits, on the labelled
    training windows only (not the transfer set's); the run keeps the tuned student, and
    method.json records the finish."""
    import collar_kd.methods.plain as plain
    from safetensors.torch import load_file

    from collar_kd.config import load_config
    from collar_kd.pipeline.train_run import run_training
    from tests.conftest import tiny_config_overrides

    calls, original = [], plain.qat_finetune

    def spy(student, q, x, y, targets, loss, epochs, seed, **kw):
        given = targets(torch.from_numpy(x), torch.arange(len(x))).cpu().numpy()
        calls.append({"windows": len(x), "epochs": epochs, "bits": q.weight_bits, "labelled": bool((y >= 0).all()),
                      "towards_itself": np.allclose(given, predict_logits(student, x), atol=1e-6)})
        q2, tuned, report = original(student, q, x, y, targets, loss, epochs, seed, **kw)
        calls[-1]["tuned"] = {k: v.clone() for k, v in tuned.state_dict().items()}
        return q2, tuned, report

    monkeypatch.setattr(plain, "qat_finetune", spy)
    overrides = tiny_config_overrides(tiny_synthetic)
    cfg = load_config(None, {**overrides, "final_models": False, "save_fold_models": True, "kd.qat_epochs": 1,
                             "kd.transfer": "mixup"})
    metrics = run_training(cfg, tmp_path / "run")
    folds = metrics["folds"]
    assert len(calls) == len(folds) > 1
    assert all(c["epochs"] == 1 and c["bits"] == 8 and c["labelled"] and c["towards_itself"] for c in calls)
    assert [c["windows"] for c in calls] == [f["train_windows"] for f in folds]  # the transfer set doubles them
    for c, f in zip(calls, folds):
        saved = load_file(str(tmp_path / "run" / "folds" / f["key"] / "student_kd.safetensors"))
        assert all(torch.equal(saved[k], v) for k, v in c["tuned"].items())
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["qat_finish"]["epochs"] == 1 for f in method["folds"].values())


@pytest.mark.parametrize("line, name", [("transductive_epochs = -1", "transductive_epochs"),
                                        ("transductive_epochs = 1.5", "transductive_epochs"),
                                        ("transductive_lr_scale = 0", "transductive_lr_scale")])
def test_transductive_fine_tuning_settings_reject_bad_values(tiny_synthetic, tmp_path, line, name):
    from typer.testing import CliRunner

    from collar_kd.cli import app
    from conftest import tiny_toml

    cfg = tiny_toml(tiny_synthetic, tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(line + "\n" + cfg.read_text())
    r = CliRunner().invoke(app, ["train", "--config", str(bad), "--out", str(tmp_path / "r2"), "-q"])
    assert r.exit_code == 2 and name in r.output, r.output
    assert not (tmp_path / "r2").exists()


class FakePool:
    """Two teachers' cached logits on the training windows and on unseen ones (a TeacherPool's
    interface as soft_targets uses it)."""

    def __init__(self, n_train: int, n_classes: int = 3):
        rng = np.random.default_rng(1)
        self.train = {s: rng.normal(0, 2, (n_train, n_classes)).astype(np.float32) for s in ("a", "b")}

    def logits(self, spec):
        return self.train[spec]

    def labels_unseen(self, spec, x):
        return (x.mean(axis=1) * (1.0 if spec == "a" else -1.0)).astype(np.float32)


def soft_probabilities(table: torch.Tensor, temperature: float) -> np.ndarray:
    return torch.softmax(table / temperature, dim=1).cpu().numpy()


@pytest.mark.parametrize("how", ["teachers", "with_student", "student"])
def test_transductive_labels_change_the_unlabelled_rows_only(how):
    """The strict student's logits on the first unlabelled windows join the teachers' mean
    ("with_student": each half the probability at T) or replace it ("student"); the training
    windows and the windows after them (a transfer set) keep the teachers' labels."""
    from collar_kd.distill.targets import ensemble_logits, soft_targets

    n_train, n_own, n_transfer, temperature = 6, 4, 5, 2.0
    pool = FakePool(n_train)
    extra, _ = windows(n_own + n_transfer, seed=3)
    student = np.random.default_rng(4).normal(0, 2, (n_own, 3)).astype(np.float32)
    targets, mode = soft_targets(pool, ["a", "b"], "cached", temperature, True, extra_x=extra,
                                 student_logits=student, student_labels=how)
    assert mode == "cached"
    got = soft_probabilities(targets(None, torch.arange(n_train + n_own + n_transfer)), temperature)
    teachers = ensemble_logits([np.concatenate([pool.logits(s), pool.labels_unseen(s, extra)]) for s in "ab"], temperature)
    want = soft_probabilities(torch.from_numpy(teachers), temperature)
    own = slice(n_train, n_train + n_own)
    others = np.r_[0:n_train, n_train + n_own:n_train + n_own + n_transfer]
    np.testing.assert_allclose(got[others], want[others], atol=1e-6)
    p_student = soft_probabilities(torch.from_numpy(student), temperature)
    expected = {"teachers": want[own], "student": p_student, "with_student": (want[own] + p_student) / 2}[how]
    np.testing.assert_allclose(got[own], expected, atol=1e-6)
    if how != "teachers":
        assert not np.allclose(got[own], want[own], atol=1e-3)  # the case is not degenerate
        with pytest.raises(ConfigError, match="transductive_labels"):
            soft_targets(pool, ["a", "b"], "consistent", temperature, True, extra_x=extra,
                         student_logits=student, student_labels=how)


@pytest.mark.parametrize("how", ["teachers", "with_student"])
def test_transductive_teachers_label_the_unlabelled_rows_only(how):
    """transductive_teachers: other teachers of the pool ("c") label the first unlabelled windows
    (alone, or half and half with the strict student); the training windows and the transfer set
    after them keep the method's teachers' labels, and "c" labels nothing else."""
    from collar_kd.distill.targets import ensemble_logits, soft_targets

    n_train, n_own, n_transfer, temperature = 6, 4, 5, 2.0
    pool = FakePool(n_train)
    asked = []
    unseen = pool.labels_unseen

    def labels_unseen(spec, x):
        asked.append((spec, len(x)))
        return (x[:, 0, :] * 3.0).astype(np.float32) if spec == "c" else unseen(spec, x)

    pool.labels_unseen = labels_unseen
    extra, _ = windows(n_own + n_transfer, seed=3)
    student = np.random.default_rng(4).normal(0, 2, (n_own, 3)).astype(np.float32)
    targets, _ = soft_targets(pool, ["a", "b"], "cached", temperature, True, extra_x=extra,
                              student_logits=student if how == "with_student" else None, student_labels=how,
                              unlabelled_count=n_own, unlabelled_specs=["c"])
    got = soft_probabilities(targets(None, torch.arange(n_train + n_own + n_transfer)), temperature)
    teachers = ensemble_logits([np.concatenate([pool.logits(s), unseen(s, extra)]) for s in "ab"], temperature)
    want = soft_probabilities(torch.from_numpy(teachers), temperature)
    own = slice(n_train, n_train + n_own)
    others = np.r_[0:n_train, n_train + n_own:n_train + n_own + n_transfer]
    np.testing.assert_allclose(got[others], want[others], atol=1e-6)
    p_c = soft_probabilities(torch.from_numpy(extra[:n_own, 0, :] * 3.0), temperature)
    p_student = soft_probabilities(torch.from_numpy(student), temperature)
    np.testing.assert_allclose(got[own], p_c if how == "teachers" else (p_c + p_student) / 2, atol=1e-6)
    assert not np.allclose(got[own], want[own], atol=1e-3)  # the case is not degenerate
    assert ("c", n_own) in asked and [a for a in asked if a[0] == "c"] == [("c", n_own)]
    with pytest.raises(ConfigError, match="transductive_teachers"):
        soft_targets(pool, ["a", "b"], "consistent", temperature, True, extra_x=extra,
                     unlabelled_count=n_own, unlabelled_specs=["c"])


@pytest.mark.parametrize("n_own", [0, 4])
def test_transfer_teachers_label_the_transfer_set_only(n_own):
    """kd.transfer_teachers: other teachers of the pool ("c") label the transfer set, the windows
    after the training and the unlabelled ones; those keep the method's teachers' labels, and "c"
    labels nothing else. With transductive_teachers ("d") too, each labels its own rows."""
    from collar_kd.distill.targets import ensemble_logits, soft_targets

    n_train, n_transfer, temperature = 6, 5, 2.0
    pool = FakePool(n_train)
    asked = []
    unseen = pool.labels_unseen

    def labels_unseen(spec, x):
        asked.append((spec, len(x)))
        if spec in ("c", "d"):
            return (x[:, 0, :] * (3.0 if spec == "c" else -2.0)).astype(np.float32)
        return unseen(spec, x)

    pool.labels_unseen = labels_unseen
    extra, _ = windows(n_own + n_transfer, seed=3)
    targets, _ = soft_targets(pool, ["a", "b"], "cached", temperature, True, extra_x=extra,
                              unlabelled_count=n_own, transfer_specs=["c"])
    got = soft_probabilities(targets(None, torch.arange(n_train + n_own + n_transfer)), temperature)
    teachers = ensemble_logits([np.concatenate([pool.logits(s), unseen(s, extra)]) for s in "ab"], temperature)
    want = soft_probabilities(torch.from_numpy(teachers), temperature)
    transfer = slice(n_train + n_own, None)
    np.testing.assert_allclose(got[:n_train + n_own], want[:n_train + n_own], atol=1e-6)
    p_c = soft_probabilities(torch.from_numpy(extra[n_own:, 0, :] * 3.0), temperature)
    np.testing.assert_allclose(got[transfer], p_c, atol=1e-6)
    assert not np.allclose(got[transfer], want[transfer], atol=1e-3)  # the case is not degenerate
    assert [a for a in asked if a[0] == "c"] == [("c", n_transfer)]
    if n_own:
        asked.clear()
        targets, _ = soft_targets(pool, ["a", "b"], "cached", temperature, True, extra_x=extra,
                                  unlabelled_count=n_own, unlabelled_specs=["d"], transfer_specs=["c"])
        got = soft_probabilities(targets(None, torch.arange(n_train + n_own + n_transfer)), temperature)
        p_d = soft_probabilities(torch.from_numpy(extra[:n_own, 0, :] * -2.0), temperature)
        np.testing.assert_allclose(got[n_train:n_train + n_own], p_d, atol=1e-6)
        np.testing.assert_allclose(got[transfer], p_c, atol=1e-6)
        assert sorted(a for a in asked if a[0] in "cd") == [("c", n_transfer), ("d", n_own)]
    with pytest.raises(ConfigError, match="kd.transfer_teachers"):
        soft_targets(pool, ["a", "b"], "consistent", temperature, True, extra_x=extra, transfer_specs=["c"])


def test_transfer_teachers_reach_the_soft_labels_of_a_run(tiny_synthetic, tmp_path, monkeypatch):
    """End to end: with kd.transfer_teachers = ["gru"], the fold's student without KD (the gru
    teacher) labels exactly the transfer set's windows, and the run records the setting."""
    import collar_kd.distill.teachers as teachers_mod
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from tests.conftest import tiny_config_overrides

    seen = []
    original = teachers_mod.TeacherPool.labels_unseen

    def spy(self, spec, x):
        seen.append((str(spec), len(x), len(self.x)))
        return original(self, spec, x)

    monkeypatch.setattr(teachers_mod.TeacherPool, "labels_unseen", spy)
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "final_models": False,
                             "kd.transfer": "mixup", "kd.transfer_teachers": ["gru"]})
    metrics = run_mod.run_training(cfg, tmp_path / "run")
    gru = [s for s in seen if s[0].startswith("gru")]
    assert len(gru) == len(metrics["folds"]) and all(n == train for _, n, train in gru)  # transfer_size 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["kd"]["transfer_teachers"] == ["gru"]


def test_transductive_student_learns_the_held_out_windows_from_its_strict_twin(tiny_synthetic, tmp_path, monkeypatch):
    """transductive_labels = "student": in the fine-tuning, the soft labels of the held-out
    animal's windows (the unlabelled rows) are the strict student's own logits on them."""
    import collar_kd.methods.plain as plain
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from collar_kd.models import GRUStudent
    from tests.conftest import tiny_config_overrides

    calls = []
    original = plain.fit

    def spy(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw):
        start = GRUStudent(model.n_classes, model.hidden, model.head, model.channels)
        start.load_state_dict(model.state_dict())
        rows = np.flatnonzero(y < 0)
        table = kw["targets"](None, torch.from_numpy(rows)).detach().cpu().numpy() if len(rows) else None
        calls.append((start.eval(), x[rows], table))
        return original(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw)

    monkeypatch.setattr(plain, "fit", spy)
    over = {**tiny_config_overrides(tiny_synthetic), "transductive": True, "final_models": False,
            "transductive_epochs": 1, "transductive_labels": "student"}
    metrics = run_mod.run_training(load_config(None, over), tmp_path / "run")
    assert len(calls) == 2 * len(metrics["folds"])
    for (_, _, strict_rows), (start, held_x, table) in zip(calls[::2], calls[1::2]):
        assert strict_rows is None and len(held_x) > 0  # the strict student saw no unlabelled window
        np.testing.assert_allclose(table, predict_logits(start, held_x), atol=1e-5)
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["transductive"]["labels"] == "student" for f in method["folds"].values())
    assert "through the strict distilled student's own soft labels" in (tmp_path / "run" / "report.md").read_text()


def test_transductive_fine_tune_on_the_held_out_windows_alone(tiny_synthetic, tmp_path, monkeypatch):
    """transductive_windows = "unlabelled": the fine-tune sees the held-out animal's windows and
    nothing else (no training window, no transfer window, no label), each with its labeller's soft
    label (here the strict student's own logits), while the strict student is trained as before."""
    import collar_kd.methods.plain as plain
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from collar_kd.models import GRUStudent
    from tests.conftest import tiny_config_overrides

    calls = []
    original = plain.fit

    def spy(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw):
        start = GRUStudent(model.n_classes, model.hidden, model.head, model.channels)
        start.load_state_dict(model.state_dict())
        table = kw["targets"](None, torch.arange(len(x))).detach().cpu().numpy()
        calls.append({"start": start.eval(), "x": np.array(x), "y": np.array(y), "table": table})
        return original(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw)

    monkeypatch.setattr(plain, "fit", spy)
    over = {**tiny_config_overrides(tiny_synthetic), "transductive": True, "final_models": False,
            "transductive_epochs": 1, "transductive_labels": "student", "transductive_windows": "unlabelled",
            "kd.transfer": "mixup"}
    metrics = run_mod.run_training(load_config(None, over), tmp_path / "run")
    folds = json.loads((tmp_path / "run" / "metrics.json").read_text())["folds"]
    assert len(calls) == 2 * len(folds)
    for (strict, tuned), fold in zip(zip(calls[::2], calls[1::2]), folds):
        assert (strict["y"] >= 0).sum() == fold["train_windows"] and len(strict["x"]) == 2 * fold["train_windows"]
        assert len(tuned["x"]) == fold["test_windows"] and (tuned["y"] == -1).all()
        np.testing.assert_allclose(tuned["table"], predict_logits(tuned["start"], tuned["x"]), atol=1e-5)
    assert "student_kd_transductive" in metrics
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["transductive"]["windows"] == "unlabelled" for f in method["folds"].values())
    report = " ".join((tmp_path / "run" / "report.md").read_text().split())
    assert "was fine-tuned on the held-out animal's windows alone through the strict distilled student's own" in report


def test_held_out_windows_alone_with_teachers_labelling_each_batch(tiny_synthetic, tmp_path, monkeypatch):
    """transductive_windows = "unlabelled" with consistent teaching: the teachers label each rotated
    batch of the held-out windows themselves (no table to skip), and the fine-tune sees those windows alone."""
    import collar_kd.methods.plain as plain
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from collar_kd.training.loop import LABELS_ITS_INPUT
    from tests.conftest import tiny_config_overrides

    calls = []
    original = plain.fit

    def spy(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw):
        calls.append((len(x), int((y < 0).sum()), getattr(kw["targets"], LABELS_ITS_INPUT, False)))
        return original(model, x, y, loss_fn, epochs, batch_size, lr, seed, **kw)

    monkeypatch.setattr(plain, "fit", spy)
    over = {**tiny_config_overrides(tiny_synthetic), "transductive": True, "final_models": False,
            "transductive_epochs": 1, "transductive_windows": "unlabelled", "augment_rotation_deg": 20.0,
            "kd.teaching": "consistent"}
    run_mod.run_training(load_config(None, over), tmp_path / "run")
    folds = json.loads((tmp_path / "run" / "metrics.json").read_text())["folds"]
    assert calls[1::2] == [(f["test_windows"], f["test_windows"], True) for f in folds]


def test_transductive_teachers_label_the_held_out_windows_alone(tiny_synthetic, tmp_path, monkeypatch):
    """transductive_teachers = ["turned_forest"]: the forest trained on turned copies labels the
    held-out animal's windows of the transductive student and nothing else; the strict student's
    soft labels do not involve it, and method.json names it."""
    import collar_kd.methods.plain as plain
    import collar_kd.pipeline.train_run as run_mod
    from collar_kd.config import load_config
    from collar_kd.distill.teachers import TeacherPool
    from tests.conftest import tiny_config_overrides

    held, asked = [], []
    original_fit, original_unseen = plain.fit, TeacherPool.labels_unseen

    def spy_fit(model, x, y, *args, **kw):
        held.append(x[y < 0])
        return original_fit(model, x, y, *args, **kw)

    def spy_unseen(self, spec, x):
        asked.append((str(spec), np.array(x)))
        return original_unseen(self, spec, x)

    monkeypatch.setattr(plain, "fit", spy_fit)
    monkeypatch.setattr(TeacherPool, "labels_unseen", spy_unseen)
    over = {**tiny_config_overrides(tiny_synthetic), "transductive": True, "final_models": False, "seed": 2,
            "transductive_epochs": 1, "transductive_labels": "with_student", "transductive_teachers": ["turned_forest"],
            "augment_rotation_deg": 20.0, "kd.teaching": "cached", "kd.transfer": "none", "turned_forest_copies": 2,
            "method.name": "ensemble", "method.teachers": ["resnet", "forest"]}  # a method that names its teachers
    metrics = run_mod.run_training(load_config(None, over), tmp_path / "run")
    folds = len(metrics["folds"])
    assert len(held) == 2 * folds and all(len(h) == 0 for h in held[::2])  # the strict students: no unlabelled rows
    forest_calls = [x for spec, x in asked if spec == "turned_forest:2"]
    assert len(forest_calls) == folds
    for x, h in zip(forest_calls, held[1::2]):
        np.testing.assert_array_equal(x, h)  # exactly the held-out windows of that fold
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert all(f["transductive"]["held_out_teachers"] == ["turned_forest:2"] for f in method["folds"].values())
    assert all(f["transductive"]["teachers"] == ["resnet:2", "forest:2"] for f in method["folds"].values())
    report = " ".join((tmp_path / "run" / "report.md").read_text().split())
    assert "soft labels half from the teacher turned_forest:2, half from the strict distilled student" in report


def test_transductive_labels_setting_rejects_bad_values(tiny_synthetic, tmp_path):
    from typer.testing import CliRunner

    from collar_kd.cli import app
    from collar_kd.config import load_config
    from conftest import tiny_toml
    from tests.conftest import tiny_config_overrides

    cfg = tiny_toml(tiny_synthetic, tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('transductive_labels = "oracle"\n' + cfg.read_text())
    r = CliRunner().invoke(app, ["train", "--config", str(bad), "--out", str(tmp_path / "r2"), "-q"])
    assert r.exit_code == 2 and "transductive_labels" in r.output, r.output
    assert not (tmp_path / "r2").exists()
    for line, said in (('transductive_teachers = ["tree"]', "transductive_teachers: 'tree' is not 'arch:seed'"),
                       ('transductive_teachers = ["turned_forest"]',  # the tiny run has no rotations
                        "transductive_teachers: 'turned_forest:0' learns from turned copies")):
        bad.write_text(f'transductive = true\n{line}\n' + cfg.read_text())
        r = CliRunner().invoke(app, ["train", "--config", str(bad), "--out", str(tmp_path / "r3"), "-q"])
        assert r.exit_code == 2 and said in " ".join(r.output.split()), r.output
        assert not (tmp_path / "r3").exists()
    for line, said in (('transductive_windows = "held_out"', "transductive_windows: must be one of all, unlabelled"),
                       ('transductive_windows = "unlabelled"', "transductive_windows: 'unlabelled' fine-tunes")):
        bad.write_text(f'transductive = true\n{line}\n' + cfg.read_text())
        r = CliRunner().invoke(app, ["train", "--config", str(bad), "--out", str(tmp_path / "r4"), "-q"])
        assert r.exit_code == 2 and said in " ".join(r.output.split()), r.output
        assert not (tmp_path / "r4").exists()
    r = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r5"), "--transductive",
                                 "--transductive-windows", "held_out", "-q"])
    assert r.exit_code == 2 and "transductive_windows" in r.output and not (tmp_path / "r5").exists(), r.output
    with pytest.raises(ConfigError, match="transductive_labels: 'with_student' needs cached soft labels"):
        load_config(None, {**tiny_config_overrides(tiny_synthetic), "transductive_labels": "with_student",
                           "kd.teaching": "consistent", "transductive": True})
    # Without --transductive the setting is not used, so it refuses nothing (the collar recipe sets it).
    assert load_config(None, {"data.format": "wasp", "data.path": "x", "kd.teaching": "consistent"}).kd.teaching == "consistent"


def test_a_run_with_a_16_bit_layer_finishes_and_exports_with_it(tiny_synthetic, tmp_path, monkeypatch):
    """method.layer_weight_bits: the finish trains through the graph with the GRU's input matrix in
    16 bits and the rest in 8, the run records it, and export uses it without being told."""
    import collar_kd.methods.plain as plain

    from collar_kd.config import load_config
    from collar_kd.export.exporter import ExportOptions
    from collar_kd.pipeline.export_run import export_run
    from collar_kd.pipeline.train_run import run_training
    from tests.conftest import tiny_config_overrides

    widths, original = [], plain.qat_finetune

    def spy(student, q, *args, **kw):
        widths.append({name: q.bits(name) for name in ("inp", "ih", "hh", "fc1", "fc2")})
        return original(student, q, *args, **kw)

    monkeypatch.setattr(plain, "qat_finetune", spy)
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "cv": "none", "kd.qat_epochs": 1,
                             "method.layer_weight_bits": {"ih": 16}})
    run_training(cfg, tmp_path / "run")
    assert widths == [{"inp": 8, "ih": 16, "hh": 8, "fc1": 8, "fc2": 8}]
    models = json.loads((tmp_path / "run" / "models" / "models.json").read_text())
    assert models["student_kd_method"]["layer_weight_bits"] == {"ih": 16}
    method = json.loads((tmp_path / "run" / "method.json").read_text())
    assert method["final"]["qat_finish"]["layer_weight_bits"] == {"ih": 16}
    m = export_run(tmp_path / "run", tmp_path / "export", ExportOptions(device_rate_hz=10.0, target="eartag", windows=20))
    assert m["layer_bits"]["ih"] == 16 and m["layer_bits"]["hh"] == 8
    assert not any("as asked" in n for n in m["precision_notes"])
