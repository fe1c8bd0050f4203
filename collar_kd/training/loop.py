"""One small, deterministic mini-batch training loop for every model.

Same seed, same data, same thread count: same weights, bit for bit (deterministic algorithms
are enforced; shuffling uses its own generator).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from collar_kd.errors import TrainingDiverged
from collar_kd.training.augment import Augmentation
from collar_kd.training.device import compute_device, to_compute

# loss(student_logits, labels, teacher_logits or None, class_weights or None)
LossFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"], torch.Tensor]
# targets(batch as the student sees it, indices into x) -> teacher logits for the batch
Targets = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# A Targets that labels the batch it is given (consistent teaching) says so with this attribute;
# otherwise targets are per window (cached) and mixup mixes them with the windows.
LABELS_ITS_INPUT = "labels_its_input"


def mix_logits(a: torch.Tensor, b: torch.Tensor, lam: float, temperature: float) -> torch.Tensor:
    """T * log(lam * softmax(a / T) + (1 - lam) * softmax(b / T)): the soft label of a mixed window
    from the soft labels of its two windows, mixed like the windows (at the KD temperature)."""
    p = lam * torch.softmax(a / temperature, dim=1) + (1.0 - lam) * torch.softmax(b / temperature, dim=1)
    return temperature * torch.log(p.clamp_min(1e-30))


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def class_weights(y: np.ndarray, n_classes: int, mode: str = "balanced") -> torch.Tensor | None:
    """'balanced': inverse frequency; 'sqrt': its square root; 'none': None. Classes absent
    from y get weight 0."""
    if mode == "none":
        return None
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(np.sqrt(w) if mode == "sqrt" else w, dtype=torch.float32)


def optimize(
    modules: list[nn.Module],
    x: np.ndarray | torch.Tensor,
    batch_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
    augment: Augmentation | None = None,
    on_progress: Callable[[float], None] | None = None,
    stop_after: int | None = None,
) -> list[float]:
    """The one training loop: Adam with cosine decay over the parameters of `modules`,
    shuffled mini-batches of `x`; batch_loss(xb, idx) gives the loss of one batch (idx indexes
    x, so per-window targets can be looked up; xb is the batch as augmented). With `augment`,
    every training window is augmented afresh each time it is seen. on_progress(f) is told the
    fraction of training done before every step (loss schedules use it). Returns the mean loss
    of every epoch. `stop_after`: end after that many epochs of the `epochs`-long schedule (the
    learning rate follows the full schedule up to there). The modules compute on the chosen device (training/device.py) and are back
    on the CPU when it returns; augmentation and shuffling stay on the CPU generator."""
    xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    params = [p for m in modules for p in m.parameters()]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * max(1, -(-len(xt) // batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
    history, step = [], 0
    for m in modules:
        m.to(compute_device())
        m.train()
    for epoch in range(epochs if stop_after is None else min(epochs, stop_after)):
        order = torch.randperm(len(xt), generator=gen)
        total, seen = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            xb = xt[idx]
            if augment is not None and augment.active:
                xb = augment(xb, gen)
            xb = to_compute(xb)
            if on_progress is not None:
                on_progress(step / steps)
            opt.zero_grad()
            loss = batch_loss(xb, idx)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingDiverged(f"training diverged: the loss became {value} in epoch {epoch + 1}, step {step + 1}; "
                                       "check the settings (kd.temperature, learning rates, augmentation)")
            loss.backward()
            nn.utils.clip_grad_norm_(params, 5.0)  # GRUs occasionally spike
            opt.step()
            sched.step()
            step += 1
            total += value * len(idx)
            seen += len(idx)
        history.append(total / max(seen, 1))
        if on_epoch is not None:
            on_epoch(epoch, history[-1])
    for m in modules:
        m.eval()
        m.to("cpu")
    return history


def fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    loss_fn: LossFn,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    targets: Targets | None = None,
    weights: torch.Tensor | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    augment: Augmentation | None = None,
    on_progress: Callable[[float], None] | None = None,
    mixup: float = 0.0,
    temperature: float = 1.0,
    stop_after: int | None = None,
) -> list[float]:
    """Train `model` on labelled windows with loss_fn(logits, labels, teacher_logits, weights);
    targets(xb, idx) gives the teacher logits of a batch (see distill.targets). A loss with a
    schedule (see distill.losses) follows training progress by itself.

    mixup > 0 (Zhang et al.): every batch (after augmentation) is mixed with a shuffled copy of
    itself, lam ~ Beta(mixup, mixup) per batch, and the loss is lam * loss(labels) +
    (1 - lam) * loss(partner labels); soft labels come from a teacher that labels the mixed
    batch itself (consistent teaching), or else are the windows' cached soft labels mixed at
    `temperature` (mix_logits). Its draws have their own generator, so a run without mixup
    draws exactly what it did before."""
    yt, weights = to_compute(torch.from_numpy(y.astype(np.int64))), to_compute(weights)
    if on_progress is None:
        on_progress = getattr(loss_fn, "set_progress", None)

    def plain(xb, idx):
        return loss_fn(model(xb), yt[idx], None if targets is None else targets(xb, idx), weights)

    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)

    def mixed(xb, idx):
        lam = float(rng.beta(mixup, mixup))
        perm = torch.randperm(len(idx), generator=gen)
        partner = perm.to(xb.device)  # the batch, its soft labels and its labels share a device
        xm = lam * xb + (1.0 - lam) * xb[partner]
        s = model(xm)
        if targets is None:
            t = None
        elif getattr(targets, LABELS_ITS_INPUT, False):
            t = targets(xm, idx)
        else:
            t_own = targets(xb, idx)
            t = mix_logits(t_own, t_own[partner], lam, temperature)
        return lam * loss_fn(s, yt[idx], t, weights) + (1.0 - lam) * loss_fn(s, yt[idx[perm]], t, weights)

    try:
        return optimize([model], x, mixed if mixup > 0 else plain, epochs, batch_size, lr, seed, on_epoch, augment, on_progress,
                        stop_after)
    finally:
        for m in getattr(targets, "modules", ()):  # teachers that labelled batches on the device: back to the CPU
            m.to("cpu")


@torch.no_grad()
def logits_in_training(model: nn.Module, x: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Logits of a model that is being trained (on_epoch: validation), computed where it is and in
    eval mode, then left as it was (train mode, same device)."""
    model.eval()
    device = next(model.parameters()).device
    out = [model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32)).to(device)).cpu()
           for i in range(0, len(x), batch_size)]
    model.train()
    return torch.cat(out).numpy()


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Logits of `model` on windows `x`, computed on the chosen device; the model is on the CPU
    afterwards."""
    model.eval()
    model.to(compute_device())
    out = [model(to_compute(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32)))).cpu()
           for i in range(0, len(x), batch_size)]
    model.to("cpu")
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)
