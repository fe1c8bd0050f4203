"""Teacher and student shapes, parameter counts and multiplications per window."""

from __future__ import annotations

import torch

from collar_kd.models import GRUStudent, ResNetTeacher


def test_resnet_shapes_and_counts():
    m = ResNetTeacher(5)
    x = torch.randn(4, 50, 3)
    assert m(x).shape == (4, 5)
    assert m.features(x).shape == (4, 128, 50)
    # conv weights (no bias) + BN (2 per channel) + shortcuts + output layer
    convs = 3 * 64 * 8 + 64 * 64 * 5 + 64 * 64 * 3 + 64 * 128 * 8 + 128 * 128 * 5 + 128 * 128 * 3 + 128 * 128 * (8 + 5 + 3)
    bns = 2 * (3 * 64 + 3 * 128 + 3 * 128) + 2 * (64 + 128 + 128)
    shortcuts = 3 * 64 + 64 * 128
    assert m.param_count() == convs + bns + shortcuts + 128 * 5 + 5


def test_resnet_mults_worked_by_hand():
    m = ResNetTeacher(2, filters=[4, 8], kernels=[3, 2])
    # block 3->4: convs 10*3*4*3 + 10*4*4*2, BN scales 2*40, shortcut conv 10*3*4 and BN 40 = 920
    # block 4->8: convs 10*4*8*3 + 10*8*8*2, BN 2*80, shortcut 10*4*8 and BN 80 = 2800
    # pooling (one scale per channel) 8 + output 8*2 = 24
    assert m.mults_per_window(10) == 920 + 2800 + 24


def test_student_shapes_counts_and_mults():
    m = GRUStudent(4, hidden=16, head=8)
    x = torch.randn(2, 30, 3)
    assert m(x).shape == (2, 4)
    assert m.hidden_sequence(x).shape == (2, 30, 16)
    expected_params = (3 * 16 + 16) + 2 * (3 * 16 * 16 + 3 * 16) + (16 * 8 + 8) + (8 * 4 + 4)
    assert m.param_count() == expected_params
    per_step = 3 * 16 + 6 * 16 * 16 + 3 * 16
    assert m.mults_per_window(30) == 30 * per_step + 16 * 8 + 8 * 4


def test_student_last_step_matches_stepwise_gru():
    """The classification uses the state after the last sample, computable one sample at a time."""
    torch.manual_seed(0)
    m = GRUStudent(3, hidden=8, head=4).eval()
    x = torch.randn(1, 12, 3)
    h = torch.zeros(1, 1, 8)
    with torch.no_grad():
        for t in range(12):
            _, h = m.gru(torch.relu(m.inp(x[:, t : t + 1])), h)
        assert torch.allclose(m.classify(h[0]), m(x), atol=1e-6)
