"""The Hinton KD loss against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from collar_kd.config import KDConfig
from collar_kd.distill.losses import LOSSES, kd_loss, make_loss
from collar_kd.errors import ConfigError


def test_two_class_value_worked_by_hand():
    # student [1, 0], teacher [0, 1], label 0, alpha 0.5, T 2:
    # CE = log(1 + e^-1) = 0.31326169
    # q = softmax([0.5, 0]) = [0.62245933, 0.37754067], p = [0.37754067, 0.62245933]
    # KL(p||q) = (0.62245933 - 0.37754067) * ln(0.62245933 / 0.37754067) = 0.24491866 * 0.5 = 0.12245933
    # loss = 0.5 * 0.31326169 + 0.5 * 2^2 * 0.12245933 = 0.40154951
    loss = kd_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), torch.tensor([[0.0, 1.0]]), alpha=0.5, temperature=2.0)
    assert float(loss) == pytest.approx(0.40154951, abs=1e-6)


def _kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_soft_term_is_kl_teacher_to_student_and_swapping_changes_it():
    s = np.array([2.0, 0.0, 0.0])
    t = np.array([0.0, 1.0, 0.5])
    T = 3.0
    expected = T * T * _kl(_softmax(t / T), _softmax(s / T))
    got = kd_loss(torch.tensor(np.array([s])), torch.tensor([0]), torch.tensor(np.array([t])), alpha=1.0, temperature=T)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    swapped = kd_loss(torch.tensor(np.array([t])), torch.tensor([0]), torch.tensor(np.array([s])), alpha=1.0, temperature=T)
    assert float(swapped) == pytest.approx(T * T * _kl(_softmax(s / T), _softmax(t / T)), rel=1e-5)
    assert abs(float(swapped) - float(got)) > 1e-3


def test_batchmean_and_alpha_zero_is_cross_entropy():
    s = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    y = torch.tensor([1, 2])
    t = torch.tensor([[0.0, 5.0, 0.0], [1.0, 1.0, 1.0]])
    ce = (-math.log(_softmax(np.array([1.0, 2.0, 0.0]))[1]) - math.log(_softmax(np.array([0.0, 0.0, 3.0]))[2])) / 2
    assert float(kd_loss(s, y, t, alpha=0.0, temperature=4.0)) == pytest.approx(ce, rel=1e-6)
    kl = np.mean([_kl(_softmax(t[i].numpy() / 2), _softmax(s[i].numpy() / 2)) for i in range(2)])
    assert float(kd_loss(s, y, t, alpha=1.0, temperature=2.0)) == pytest.approx(4 * kl, rel=1e-5)


def test_identical_logits_give_zero_soft_term():
    z = torch.tensor([[0.3, -1.0, 2.0]])
    assert float(kd_loss(z, torch.tensor([2]), z.clone(), alpha=1.0, temperature=5.0)) == pytest.approx(0.0, abs=1e-5)


def test_registry_chooses_by_config():
    assert {"kd", "ce"} <= set(LOSSES)
    s, y, t = torch.tensor([[1.0, 0.0]]), torch.tensor([0]), torch.tensor([[0.0, 1.0]])
    kd = make_loss(KDConfig(loss="kd", alpha=0.5, temperature=2.0))
    assert float(kd(s, y, t, None)) == pytest.approx(0.40154951, abs=1e-6)
    assert float(make_loss(KDConfig(loss="ce"))(s, y, None, None)) == pytest.approx(0.31326169, abs=1e-6)
    with pytest.raises(ConfigError, match="unknown loss 'mse'"):
        make_loss(KDConfig(loss="mse"))
