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


def test_class_weighted_soft_term_worked_by_hand():
    # Two windows, labels 0 and 1, class weights [1, 3]; soft term alone (alpha 1), T 1.
    # Window 0: student [0, 0], teacher [ln 3, 0] -> p = [0.75, 0.25], q = [0.5, 0.5]
    #   KL = 0.75 ln 1.5 + 0.25 ln 0.5 = 0.30409883 - 0.17328680 = 0.13081203
    # Window 1: student = teacher -> KL = 0.
    # Hinton (plain mean): 0.06540602; class-weighted: (1 * 0.13081203 + 3 * 0) / (1 + 3) = 0.03270301.
    s = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    t = torch.tensor([[math.log(3.0), 0.0], [1.0, 2.0]])
    y, w = torch.tensor([0, 1]), torch.tensor([1.0, 3.0])
    plain = make_loss(KDConfig(alpha=1.0, temperature=1.0))
    weighted = make_loss(KDConfig(alpha=1.0, temperature=1.0, soft_weighting="class"))
    assert float(plain(s, y, t, w)) == pytest.approx(0.06540602, abs=1e-6)
    assert float(weighted(s, y, t, w)) == pytest.approx(0.03270301, abs=1e-6)
    # Without class weights (class_weighting "none") there is nothing to weight by: Hinton's loss.
    assert float(weighted(s, y, t, None)) == pytest.approx(0.06540602, abs=1e-6)


def test_class_weighted_soft_term_weights_an_unlabelled_window_by_the_teachers_top_class():
    from collar_kd.distill.losses import with_unlabelled
    # The same two windows, the first now without a label (-1): its teacher's top class is 0
    # (weight 1), so the soft term is the same as above; the hard term has window 1 only, and
    # with alpha 1 it does not count.
    s = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    t = torch.tensor([[math.log(3.0), 0.0], [1.0, 2.0]])
    w = torch.tensor([1.0, 3.0])
    loss = with_unlabelled(KDConfig(alpha=1.0, temperature=1.0, soft_weighting="class"))
    assert float(loss(s, torch.tensor([-1, 1]), t, w)) == pytest.approx(0.03270301, abs=1e-6)
    # A teacher whose top class for window 0 is 1 (weight 3) weights it 3: 3 * KL' / 6 with
    # p = [0.25, 0.75]: KL' = 0.25 ln 0.5 + 0.75 ln 1.5 = 0.13081203 -> 0.06540602.
    t2 = torch.tensor([[0.0, math.log(3.0)], [1.0, 2.0]])
    assert float(loss(s, torch.tensor([-1, 1]), t2, w)) == pytest.approx(0.06540602, abs=1e-6)


def test_teacher_correction_swaps_a_wrong_top_class_with_the_label_worked_by_hand():
    from collar_kd.distill.losses import corrected_teacher
    # Window 0: label 1, teacher's top class 0 -> logits 0 and 1 exchanged, class 2 kept.
    # Window 1: label 2, teacher right -> unchanged. Window 2: no label (-1) -> unchanged.
    t = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [5.0, 0.0, 0.0]])
    y = torch.tensor([1, 2, -1])
    got = corrected_teacher(t, y)
    assert torch.equal(got, torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [5.0, 0.0, 0.0]]))
    assert torch.equal(t[0], torch.tensor([2.0, 1.0, 0.0]))  # the cached table is not written to
    # At T = 4 the softened probabilities of the two classes swap, the third keeps its own.
    p, q = torch.softmax(t[0] / 4, dim=0), torch.softmax(got[0] / 4, dim=0)
    assert torch.allclose(q, p[[1, 0, 2]])


def test_teacher_correction_changes_the_loss_only_where_the_teacher_is_wrong():
    # Soft term alone (alpha 1), T 1. Student [0, ln 3] (q = [0.25, 0.75]), teacher [ln 3, 0]
    # (p = [0.75, 0.25]), label 1: as it is KL = 0.75 ln 3 + 0.25 ln(1/3) = 0.54930614;
    # corrected, p = [0.25, 0.75] = q and KL = 0.
    s = torch.tensor([[0.0, math.log(3.0)]])
    t = torch.tensor([[math.log(3.0), 0.0]])
    plain = make_loss(KDConfig(alpha=1.0, temperature=1.0))
    swap = make_loss(KDConfig(alpha=1.0, temperature=1.0, teacher_correction="swap"))
    assert float(plain(s, torch.tensor([1]), t, None)) == pytest.approx(0.54930614, abs=1e-6)
    assert float(swap(s, torch.tensor([1]), t, None)) == pytest.approx(0.0, abs=1e-6)
    # With label 0 the teacher is right: the two losses agree.
    assert float(swap(s, torch.tensor([0]), t, None)) == pytest.approx(float(plain(s, torch.tensor([0]), t, None)))
    # Unlabelled windows (the --unlabelled path) keep the teacher's answer.
    from collar_kd.distill.losses import with_unlabelled
    loss = with_unlabelled(KDConfig(alpha=1.0, temperature=1.0, teacher_correction="swap"))
    assert float(loss(s, torch.tensor([-1]), t, None)) == pytest.approx(0.54930614, abs=1e-6)
    assert float(loss(s, torch.tensor([1]), t, None)) == pytest.approx(0.0, abs=1e-6)
