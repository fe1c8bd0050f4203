"""Class weights and rotation augmentation of the training loop."""

from __future__ import annotations

import math
import numpy as np
import pytest
import torch

from collar_kd.config import load_config
from collar_kd.errors import ConfigError
from collar_kd.training.augment import random_rotations
from collar_kd.training.loop import class_weights


def test_class_weight_modes():
    y = np.array([0] * 90 + [1] * 10)
    bal = class_weights(y, 3, "balanced")
    assert torch.allclose(bal, torch.tensor([100 / 270, 100 / 30, 0.0]))
    assert torch.allclose(class_weights(y, 3, "sqrt"), bal.sqrt())
    assert class_weights(y, 3, "none") is None


def test_random_rotations_are_proper_rotations_within_bounds():
    r = random_rotations(200, 30.0, torch.Generator().manual_seed(0))
    eye = torch.eye(3).expand(200, 3, 3)
    assert torch.allclose(r @ r.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(200), atol=1e-5)
    # the angle of a rotation composed of three <= 30 degree turns is at most 90 degrees
    angle = torch.arccos(((r.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1))
    assert angle.max() <= np.pi / 2 + 1e-4 and angle.max() > 0.1
    assert torch.allclose(random_rotations(5, 0.0, torch.Generator()), torch.eye(3).expand(5, 3, 3))


@pytest.mark.parametrize("key,value,msg", [("class_weighting", "inverse", "class_weighting"), ("augment_rotation_deg", 400.0, "augment_rotation_deg")])
def test_bad_values(key, value, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(None, {key: value})


def test_augmentations_scale_noise_and_shift_as_documented():
    from collar_kd.training.augment import Augmentation

    x = torch.arange(2 * 10 * 3, dtype=torch.float32).view(2, 10, 3) + 1.0
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(Augmentation()(x, gen()), x) and not Augmentation().active
    scaled = Augmentation(scale=0.2)(x, gen())
    ratio = scaled / x
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio)) and ((ratio - 1).abs() <= 0.2).all()
    noisy = Augmentation(noise_g=0.05)(x, gen()) - x
    assert 0.02 < float(noisy.std()) < 0.08
    shifted = Augmentation(shift=3)(x, gen())
    for w in range(2):  # each window is the original moved in time, edges repeated
        matches = [s for s in range(-3, 4)
                   if torch.equal(shifted[w], x[w][(torch.arange(10) - s).clamp(0, 9)])]
        assert matches
    # Same generator seed, same augmentation.
    a = Augmentation(90.0, 0.1, 0.02, 2)
    assert torch.equal(a(x, gen()), a(x, gen()))


@pytest.mark.parametrize("key,value", [("augment_scale", 1.5), ("augment_noise_g", -0.1), ("augment_shift", -2),
                                       ("augment_scale", float("nan"))])
def test_bad_augmentation_settings_name_the_setting(key, value):
    from collar_kd.config import load_config
    from collar_kd.errors import ConfigError

    with pytest.raises(ConfigError, match=key):
        load_config(None, {key: value})


@pytest.mark.parametrize("key", ["kd.temperature", "kd.alpha", "student.lr", "method.lr"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_settings_are_refused_naming_the_setting(key, value):
    from collar_kd.config import load_config
    from collar_kd.errors import ConfigError
    from collar_kd.methods import resolve_settings

    with pytest.raises(ConfigError, match=rf"{key}: must be a finite number"):
        resolve_settings(load_config(None, {key: value, "method.name": "qat-kd"}))


def test_a_diverging_loss_stops_training_and_nothing_is_saved(tiny_synthetic, tmp_path, monkeypatch):
    import collar_kd.distill.losses as losses
    from collar_kd.config import load_config
    from collar_kd.errors import TrainingDiverged
    from collar_kd.pipeline.train_run import run_training
    from tests.conftest import tiny_config_overrides

    monkeypatch.setattr(losses, "kd_loss", lambda s, y, t, *a, **k: (s * float("nan")).sum())
    cfg = load_config(None, {**tiny_config_overrides(tiny_synthetic), "cv": "none"})
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1, step 1"):
        run_training(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))


def test_rotation_with_a_limit_per_axis():
    """[0, 0, 180]: turns about z only, so z and the length of every sample stay; [15, 15, 180]:
    z moves by at most the two small tilts; an axis limited to 0 never moves."""
    from collar_kd.training.augment import Augmentation

    x = torch.randn(64, 20, 3, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(2)
    about_z = Augmentation(rotation_axes_deg=(0.0, 0.0, 180.0))(x, gen)
    assert torch.allclose(about_z[..., 2], x[..., 2], atol=1e-6)
    assert torch.allclose(about_z.norm(dim=2), x.norm(dim=2), atol=1e-5)
    assert float((about_z[..., :2] - x[..., :2]).abs().max()) > 1.0  # it did turn
    unit_z = torch.tensor([0.0, 0.0, 1.0]).expand(500, 1, 3)
    tilted = Augmentation(rotation_axes_deg=(15.0, 15.0, 180.0))(unit_z, torch.Generator().manual_seed(3))
    # z' = cos(ax) cos(ay) for a unit z vector: at least cos(15 deg)^2
    assert float(tilted[..., 2].min()) >= math.cos(math.radians(15)) ** 2 - 1e-6
    assert float(tilted[..., 2].min()) < 0.97  # and it did tilt
    assert Augmentation(rotation_axes_deg=(0.0, 0.0, 10.0)).active and not Augmentation(rotation_axes_deg=(0.0, 0.0, 0.0)).active


@pytest.mark.parametrize("value,msg", [([15, 15], "three angles"), ([15, 15, 181], "three angles"),
                                       ([15, "a", 2], "three angles"), ([1, 2, float("inf")], "three angles")])
def test_bad_rotation_limits_per_axis_name_the_setting(value, msg):
    from collar_kd.config import load_config
    from collar_kd.errors import ConfigError

    with pytest.raises(ConfigError, match=f"augment_rotation_axes_deg: {msg}"):
        load_config(None, {"augment_rotation_axes_deg": value})
    with pytest.raises(ConfigError, match="either it or augment_rotation_deg"):
        load_config(None, {"augment_rotation_axes_deg": [1, 2, 3], "augment_rotation_deg": 30.0})


def test_rotation_limits_per_axis_on_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from collar_kd.cli import app

    r = CliRunner().invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "r"), "--augment-rotation-axes", "15,x,180"])
    assert r.exit_code == 2 and "--augment-rotation-axes: 'X,Y,Z' in degrees" in r.output
    r = CliRunner().invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "r"), "--augment-rotation-axes", "15,15"])
    assert r.exit_code == 2 and "augment_rotation_axes_deg: three angles" in r.output
    assert not (tmp_path / "r").exists()


def test_averaged_state_is_the_element_wise_mean_worked_by_hand():
    from collar_kd.training.averaging import averaged_state

    states = [{"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.5])},
              {"w": torch.tensor([3.0, -2.0]), "b": torch.tensor([0.25])},
              {"w": torch.tensor([2.0, 3.0]), "b": torch.tensor([-0.75])}]
    got = averaged_state(states)
    assert torch.equal(got["w"], torch.tensor([2.0, 1.0])) and torch.equal(got["b"], torch.tensor([0.0]))
    assert got["w"].dtype == torch.float32
    with pytest.raises(ValueError):
        averaged_state([])


def test_last_epochs_average_keeps_only_the_last_epochs_and_chains_the_hook():
    from torch import nn

    from collar_kd.training.averaging import LastEpochsAverage

    net = nn.Linear(1, 1, bias=False)
    called = []
    hook = LastEpochsAverage(net, 2, 4, then=lambda e, loss: called.append(e))
    for epoch, w in enumerate([10.0, 20.0, 30.0, 50.0]):
        with torch.no_grad():
            net.weight.fill_(w)
        hook(epoch, 0.0)
    assert called == [0, 1, 2, 3] and len(hook.states) == 2
    hook.apply()
    assert float(net.weight.detach()) == 40.0  # (30 + 50) / 2: epochs 0 and 1 are not kept
    off = LastEpochsAverage(net, 0, 4)
    for epoch in range(4):
        off(epoch, 0.0)
    off.apply()
    assert off.states == [] and float(net.weight.detach()) == 40.0  # 0 keeps nothing and changes nothing
