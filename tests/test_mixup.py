"""Mixup in the training loop (kd.mixup, teacher.mixup): every window of a batch is mixed with
one partner of the same batch, with one lam per batch; a teacher that labels its input sees the
very mixed batch the student sees; cached soft labels are mixed like the windows; the loss is
lam * loss(labels) + (1 - lam) * loss(partner labels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from collar_kd.config import KDConfig, load_config
from collar_kd.distill.losses import make_loss
from collar_kd.distill.targets import cached_targets, consistent_targets
from collar_kd.errors import ConfigError
from collar_kd.training.loop import fit, mix_logits, predict_logits

from test_teaching import Recorder, windows


def _partners(mixed: torch.Tensor, batch: torch.Tensor) -> tuple[float, list[int]]:
    """lam and each row's partner such that mixed = lam * batch + (1 - lam) * batch[partner]
    (checked to float precision); fails if no single lam fits every row."""
    n = len(batch)
    for j in range(n):  # lam from row 0 and a candidate partner j, on one coordinate
        d = batch[0] - batch[j]
        k = int(torch.argmax(d.abs()))
        if float(d.flatten()[k].abs()) < 1e-3:
            continue
        lam = float((mixed[0].flatten()[k] - batch[j].flatten()[k]) / d.flatten()[k])
        if not -1e-4 <= lam <= 1 + 1e-4:
            continue
        partners = []
        for i in range(n):
            fits = [p for p in range(n) if torch.allclose(mixed[i], lam * batch[i] + (1 - lam) * batch[p], atol=1e-5)]
            if not fits:
                break
            partners.append(fits[0])
        else:
            return lam, partners
    raise AssertionError("the batch is not a mixup of itself with one lam")


def test_consistent_teacher_labels_the_mixed_batch_the_student_sees():
    x, y = windows()
    student, teacher = Recorder(True), Recorder(False)
    fit(student, x, y, make_loss(KDConfig()), 2, 8, 1e-2, 0, targets=consistent_targets([teacher], 4.0), mixup=0.4)
    assert len(teacher.seen) == len(student.seen) > 0
    for s, t in zip(student.seen, teacher.seen):
        assert torch.equal(s, t)
    # the batches were mixed: most rows are none of the stored windows
    stored = torch.from_numpy(x)
    rows = [r for s in student.seen for r in s]
    mixed_rows = sum(not any(torch.allclose(r, w, atol=1e-6) for w in stored) for r in rows)
    assert mixed_rows > len(rows) // 2


def test_mixup_batch_is_one_lam_with_partners_and_labels_mix_the_same_way():
    x, y = windows(n=16)
    student = Recorder(True)
    calls = []

    def loss(s, labels, t, w):  # records what each of the two terms was given
        calls.append((labels.clone(), t.clone()))
        return s.sum() * 0.0 + float(len(calls))

    teacher_logits = np.random.default_rng(1).normal(0, 1, (16, 3)).astype(np.float32)
    cached = cached_targets(teacher_logits)
    order_batches = []

    def spy(xb, idx):
        order_batches.append((xb.clone(), idx.clone()))
        return cached(xb, idx)

    fit(student, x, y, loss, 1, 16, 1e-2, 0, targets=spy, mixup=0.4, temperature=2.0)
    (xb, idx), = order_batches  # one batch of 16: the spy saw the unmixed batch (cached labels are per window)
    mixed = student.seen[0]
    lam, partners = _partners(mixed, xb)
    # The two loss terms got the window's labels and its partner's labels, and one soft label:
    # the cached ones mixed at T = 2 with the same lam and partners.
    (y_own, t1), (y_partner, t2) = calls
    assert torch.equal(y_own, torch.from_numpy(y)[idx])
    assert torch.equal(y_partner, torch.from_numpy(y)[idx][partners]) or lam in (0.0, 1.0)
    want = mix_logits(torch.from_numpy(teacher_logits)[idx], torch.from_numpy(teacher_logits)[idx][partners], lam, 2.0)
    assert torch.equal(t1, t2) and torch.allclose(t1, want, atol=1e-5)


def test_mix_logits_worked_by_hand():
    # softmax([0, 0]) = [0.5, 0.5], softmax([ln 3, 0]) = [0.75, 0.25]; lam 0.5, T 1:
    # p = [0.625, 0.375], logits log p.
    z = mix_logits(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]), 0.5, 1.0)
    assert torch.allclose(torch.softmax(z, 1), torch.tensor([[0.625, 0.375]]), atol=1e-6)
    # at T = 2 the mixture is of the softened probabilities, and the logits carry T
    z2 = mix_logits(torch.tensor([[0.0, 0.0]]), torch.tensor([[2 * math.log(3.0), 0.0]]), 0.5, 2.0)
    assert torch.allclose(torch.softmax(z2 / 2, 1), torch.tensor([[0.625, 0.375]]), atol=1e-6)


def test_no_mixup_trains_the_same_bits_as_before_and_mixup_changes_them():
    x, y = windows()
    a, b, c = Recorder(True), Recorder(True), Recorder(True)
    for m, mix in ((a, 0.0), (b, 0.0), (c, 0.4)):
        fit(m, x, y, make_loss(KDConfig(loss="ce")), 2, 8, 1e-2, 0, mixup=mix)
    assert torch.equal(a.w, b.w) and not torch.equal(a.w, c.w)
    assert np.array_equal(predict_logits(a, x), predict_logits(b, x))


@pytest.mark.parametrize("key", ["teacher.mixup", "kd.mixup"])
@pytest.mark.parametrize("value", [-0.1, 11.0, float("nan"), True])
def test_bad_mixup_is_named(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, {key: value})
