"""Class weights and rotation augmentation of the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from collar_kd.config import load_config
from collar_kd.errors import ConfigError
from collar_kd.training.loop import class_weights, random_rotations


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
