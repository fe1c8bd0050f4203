"""The transfer set (kd.transfer, collar_kd/distill/transfer.py): windows mixed across animals,
labelled by the teachers, learnt through the soft term only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

import collar_kd.methods.plain as plain
from collar_kd.config import KDConfig
from collar_kd.distill.transfer import transfer_windows
from collar_kd.methods import train_student
from collar_kd.training.loop import predict_logits
from tests.test_methods import fold, job_for  # noqa: F401  (fold is a fixture)


def two_animal_windows(n_a: int = 30, n_b: int = 20, length: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Animal 'a' windows carry 1 g on channel 0 only, animal 'b' windows on channel 1 only."""
    x = np.zeros((n_a + n_b, length, 3), np.float32)
    x[:n_a, :, 0] = 1.0
    x[n_a:, :, 1] = 1.0
    return x, np.array(["a"] * n_a + ["b"] * n_b)


def test_off_by_default_and_none_gives_no_windows():
    x, animals = two_animal_windows()
    assert KDConfig().transfer == "none"
    assert transfer_windows(KDConfig(), x, animals, seed=0) is None


def test_mixup_mixes_two_different_animals_with_a_weight_inside_zero_one():
    x, animals = two_animal_windows()
    out = transfer_windows(KDConfig(transfer="mixup", transfer_size=2.0), x, animals, seed=3)
    assert out.shape == (2 * len(x), x.shape[1], 3) and out.dtype == np.float32
    a, b = out[:, :, 0], out[:, :, 1]
    # lam * (1, 0) + (1 - lam) * (0, 1): a window of one animal alone would give (1, 0) or (0, 1).
    np.testing.assert_allclose(a + b, 1.0, atol=1e-6)
    assert ((a > 0) & (a < 1)).all(), "a pair from the same animal, or an unmixed window"
    assert (a == a[:, :1]).all(), "one weight per window, every sample mixed alike"
    assert 0.3 < a[:, 0].mean() < 0.7  # uniform weights, either order of the pair


def test_same_seed_same_set_another_seed_another():
    x, animals = two_animal_windows()
    cfg = KDConfig(transfer="mixup", transfer_size=0.5)
    first = transfer_windows(cfg, x, animals, seed=1)
    np.testing.assert_array_equal(first, transfer_windows(cfg, x, animals, seed=1))
    assert not np.array_equal(first, transfer_windows(cfg, x, animals, seed=2))
    assert len(first) == 25


def test_a_single_animal_mixes_two_different_windows():
    x = np.arange(12, dtype=np.float32).reshape(4, 1, 3).repeat(5, axis=1)
    out = transfer_windows(KDConfig(transfer="mixup"), x, np.array(["a"] * 4), seed=0)
    assert out.shape == (4, 5, 3)
    assert not any(np.allclose(o, w) for o in out for w in x)


def test_the_student_learns_the_transfer_set_through_the_teachers_soft_labels_only(fold, monkeypatch):  # noqa: F811
    """By construction: what fit receives is the real windows with their labels, then the transfer
    windows with label -1 (soft term only), and their targets are the teacher's logits on them."""
    cfg = replace(fold["cfg"], kd=replace(fold["cfg"].kd, transfer="mixup", transfer_size=1.0))
    win, pool = fold["win"], fold["pool"]
    seen = {}
    real_fit = plain.fit

    def spy(student, x, y, loss, *args, targets=None, **kw):
        idx = torch.arange(len(x))
        seen.update(x=x, y=y, loss=loss, targets=targets(torch.from_numpy(x), idx).numpy())
        return real_fit(student, x, y, loss, *args, targets=targets, **kw)

    monkeypatch.setattr(plain, "fit", spy)
    train_student(job_for(fold, cfg=cfg))
    n = len(win.x)
    expected = transfer_windows(cfg.kd, win.x, pool.animals, cfg.seed)
    assert len(seen["x"]) == 2 * n
    np.testing.assert_array_equal(seen["x"][:n], win.x)
    np.testing.assert_array_equal(seen["x"][n:], expected)
    np.testing.assert_array_equal(seen["y"][:n], win.y)
    assert (seen["y"][n:] == -1).all()
    np.testing.assert_allclose(seen["targets"][n:], predict_logits(pool.get(pool.main_spec), expected), rtol=1e-5, atol=1e-5)
    # The loss for mixed batches: the hard term over labelled windows only.
    s = torch.zeros(2, len(win.classes))
    t = torch.randn(2, len(win.classes))
    assert torch.isfinite(seen["loss"](s, torch.tensor([-1, -1]), t, None))


def test_cli_bad_transfer_exits_2_naming_it(tmp_path):
    from typer.testing import CliRunner

    from collar_kd.cli import app

    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "--data", "synthetic", "--kd-transfer", "munge", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "kd.transfer" in r.output and not out.exists()
