"""Pooled MCC from confusion matrices, the paired bootstrap over animals and the paired
steadiness from seed to seed, against sklearn and hand-worked two-animal cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, matthews_corrcoef

from collar_kd.evaluation.statistics import (describe_steadiness, mcc_from_confusion, paired_difference, paired_steadiness,
                                             seed_spread_per_animal, summarize_seeds)


def test_mcc_from_confusion_equals_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
        p[:120] = y[:120]
        c = confusion_matrix(y, p, labels=range(4))
        assert mcc_from_confusion(c) == pytest.approx(matthews_corrcoef(y, p), abs=1e-12)
    assert mcc_from_confusion(np.array([[5, 0], [0, 0]])) == 0.0  # undefined -> 0


def conf(tp, fn, fp, tn):
    return np.array([[tp, fn], [fp, tn]], dtype=float)


def test_paired_bootstrap_on_a_hand_worked_two_animal_case():
    # Animal 1: model a perfect, b one error each way; animal 2: both identical.
    a = np.stack([conf(10, 0, 0, 10), conf(8, 2, 2, 8)])[None]
    b = np.stack([conf(9, 1, 1, 9), conf(8, 2, 2, 8)])[None]
    # Resamples of two animals: {1,1} (p 1/4), {1,2} (p 1/2), {2,2} (p 1/4).
    d11 = 1.0 - 0.8  # MCC of 2x conf(9,1,1,9) = 0.8
    d12 = mcc_from_confusion(conf(18, 2, 2, 18)) - mcc_from_confusion(conf(17, 3, 3, 17))  # 0.8 - 0.7
    d22 = 0.0
    assert d12 == pytest.approx(0.1)
    r = paired_difference(a, b, n_boot=4000, seed=1)
    assert r["difference"] == pytest.approx(d12)
    # 2.5% and 97.5% quantiles fall in the outer resamples, each with probability 1/4.
    assert r["ci_low"] == pytest.approx(d22) and r["ci_high"] == pytest.approx(d11)
    assert r["share_of_draws_above_zero"] == pytest.approx(0.75, abs=0.03)
    assert r["animals_better"] == 1 and r["animals_worse"] == 0


def test_seeds_are_averaged_and_summarized():
    one = np.stack([conf(10, 0, 0, 10), conf(9, 1, 1, 9)])
    two = np.stack([conf(9, 1, 1, 9), conf(9, 1, 1, 9)])
    s = summarize_seeds(np.stack([one, two]))
    assert s["per_seed"] == pytest.approx([mcc_from_confusion(conf(19, 1, 1, 19)), 0.8])
    assert s["mean"] == pytest.approx(np.mean(s["per_seed"])) and s["sd"] > 0
    with pytest.raises(ValueError):
        paired_difference(one, two)  # needs a seed axis


def test_steadiness_on_a_hand_worked_two_animal_two_seed_case():
    perfect, one_off, two_off = conf(10, 0, 0, 10), conf(9, 1, 1, 9), conf(8, 2, 2, 8)  # MCC 1.0, 0.8, 0.6
    # (seeds, animals, K, K). Model a: the same on both seeds. Model b: animal 1 moves 1.0 -> 0.8.
    a = np.array([[perfect, two_off], [perfect, two_off]])
    b = np.array([[perfect, two_off], [one_off, two_off]])
    assert seed_spread_per_animal(a) == pytest.approx([0.0, 0.0])
    sd = 0.2 / np.sqrt(2)  # sample sd of (1.0, 0.8)
    assert seed_spread_per_animal(b) == pytest.approx([sd, 0.0])
    r = paired_steadiness(a, b, n_boot=4000, seed=1)
    assert r["spread_a"] == pytest.approx(0.0) and r["spread_b"] == pytest.approx(sd / 2)
    assert r["difference"] == pytest.approx(sd / 2)
    # Resamples of the two animals: {1,1} -> sd (p 1/4), {1,2} -> sd/2 (p 1/2), {2,2} -> 0 (p 1/4).
    assert r["ci_low"] == pytest.approx(0.0) and r["ci_high"] == pytest.approx(sd)
    assert r["animals_steadier"] == 1 and r["animals_less_steady"] == 0
    assert "cannot be told from chance" in describe_steadiness("a", "b", r)
    swapped = paired_steadiness(b, a, n_boot=4000, seed=1)
    assert swapped["difference"] == pytest.approx(-sd / 2) and swapped["animals_less_steady"] == 1


def test_steadiness_interval_resamples_the_seeds_too():
    perfect, one_off = conf(10, 0, 0, 10), conf(9, 1, 1, 9)  # MCC 1.0, 0.8
    # Two identical animals, so resampling animals alone would leave no doubt. Model b falls on seed 3.
    a = np.array([[perfect, perfect]] * 3)
    b = np.array([[perfect, perfect], [perfect, perfect], [one_off, one_off]])
    r = paired_steadiness(a, b, n_boot=4000, seed=2)
    sd = 0.2 / np.sqrt(3)  # sample sd of (1.0, 1.0, 0.8), and of (1.0, 0.8, 0.8)
    assert r["difference"] == pytest.approx(sd)
    # Seed draws without seed 3 (6 of the 24 kept draws) show no fall: the lower end is 0, not sd.
    assert r["ci_low"] == pytest.approx(0.0) and r["ci_high"] == pytest.approx(sd)


def test_steadiness_needs_two_seeds_and_the_same_animals():
    one_seed = np.array([[conf(10, 0, 0, 10), conf(9, 1, 1, 9)]])
    with pytest.raises(ValueError, match="seeds >= 2"):
        seed_spread_per_animal(one_seed)
    two_seeds = np.concatenate([one_seed, one_seed])
    with pytest.raises(ValueError, match="other animals"):
        paired_steadiness(two_seeds, two_seeds[:, :1])


def test_seed_statistics_give_the_steadiness_from_two_seeds_and_run_on_one():
    from collar_kd.pipeline.train_run import seed_statistics

    perfect, one_off = conf(10, 0, 0, 10).tolist(), conf(9, 1, 1, 9).tolist()
    folds = {0: [{"student": {"confusion": perfect}, "student_kd": {"confusion": perfect}}] * 2,
             1: [{"student": {"confusion": one_off}, "student_kd": {"confusion": perfect}}] * 2}
    one = seed_statistics({0: folds[0]}, ("student", "student_kd"))  # bench-accuracy run with one seed
    assert one["paired_steadiness"] == {} and "seed_spread_per_animal" not in one
    two = seed_statistics(folds, ("student", "student_kd"))
    sd = 0.2 / np.sqrt(2)
    assert two["seed_spread_per_animal"] == pytest.approx({"student": sd, "student_kd": 0.0})
    assert two["paired_steadiness"]["student_kd - student"]["difference"] == pytest.approx(sd)
    assert any(sentence.startswith("From one training seed to another") for sentence in two["in_words"])
