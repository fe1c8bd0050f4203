"""Data-free student (after DAFL). A generator of tri-axial windows is trained against the
fixed teacher with three losses: one-hot (the teacher should be sure of the generated window:
cross-entropy against its own arg-max), activation (large teacher features) and information
entropy (the batch's mean prediction should spread over all classes). The student is then
distilled from the teacher's soft labels on generated windows only. Beyond DAFL (each a setting,
on by default since it paid on the WASP collars): a class-conditional generator, the teacher's
batch-norm statistics, collar-physics priors, a second teacher of the generated windows (the GRU
trained without KD); and, off by default, DFAD's adversarial stage (Fang et al. 2019), in which the
generator keeps training during distillation against the student too, seeking windows where
student and teacher disagree, and the student learns on fresh windows every epoch.

Nothing here reads job.x or job.y: the teachers (method.teachers, trained beforehand) are the only
link to real data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from collar_kd.config import KDConfig
from collar_kd.errors import ConfigError
from collar_kd.distill.losses import kl_term, make_loss
from collar_kd.distill.targets import cached_targets, consistent_targets, ensemble_logits
from collar_kd.distill.teachers import GRU, forest_logits, is_forest, parse_teacher_spec
from collar_kd.methods.base import MethodResult, StudentJob, check_at_most, check_positive, register
from collar_kd.training.averaging import LastEpochsAverage
from collar_kd.training.device import compute_device, to_compute
from collar_kd.training.loop import fit, predict_logits


# The defaults switch on the additions to DAFL that bench-data-free measured paying on the WASP
# collars (docs/methods.md, "data-free: DAFL"); DAFL as published is all of them off:
# bn_statistics_weight, gravity_weight and jerk_weight 0, class_conditional false, teachers
# ["resnet"]. The adversarial stage stays off: it lost on four of six cows.
@dataclass
class DataFreeSettings:
    generator_steps: int = 300
    generator_batch: int = 128
    generator_lr: float = 1e-3
    generator_latent: int = 64
    generator_range_g: float = 2.0
    activation_weight: float = 0.1  # DAFL's activation loss
    entropy_weight: float = 5.0  # DAFL's information-entropy loss
    # Not in DAFL: match the teacher's batch-norm running statistics (DeepInversion). 0 = off.
    bn_statistics_weight: float = 0.1
    # Not in DAFL: collar physics the generated windows are held to (0 = off). Gravity: a collar at
    # rest or moving slowly measures about 1 g, so the window's mean acceleration magnitude should
    # be near 1 g. Jerk: consecutive samples of a collar on a cow differ by at most max_step_g.
    gravity_weight: float = 1.0
    jerk_weight: float = 1.0
    max_step_g: float = 0.5
    # Not in DAFL: the generator is also given a class (one-hot, dealt round-robin over the
    # batch) and its one-hot term pulls the teacher towards that class instead of the teacher's own
    # arg-max, so every behaviour is generated (on the WASP collars pure DAFL collapsed onto one).
    class_conditional: bool = True
    # Not in DAFL: how a generated window is built. "free": any window within +-generator_range_g
    # (DAFL's generator). "gravity": by construction what a collar measures, gravity (a direction
    # the generator chooses, times 1 g) plus zero-mean motion within +-motion_range_g, cut at the
    # sensor's +-generator_range_g; the penalties above only nudge, this cannot leave physics.
    generator_form: str = "free"
    motion_range_g: float = 1.0
    generated_windows: int = 8192  # what the student sees (each epoch, with fresh_windows)
    # Not in DAFL: a new set of generated_windows for every student epoch instead of one set for all.
    fresh_windows: bool = False
    # Not in DAFL (DFAD's adversarial stage): before every student epoch, this many generator steps
    # that also push the teacher and the student apart (KL at the KD temperature, times
    # adversarial_weight), the terms above still on; implies fresh_windows. 0 = off.
    adversarial_steps: int = 0
    adversarial_weight: float = 1.0
    # What the student's soft term compares with (the data-free method's own choice; kd.teaching
    # is for real windows): "consistent", the teacher labels every batch as the student sees it,
    # after augmentation (rotation); "cached", once per window before augmentation (what this
    # method did until 2026-12-05). Consistent lifted bench-data-free's pooled MCC from 0.491 to
    # 0.679, higher on all ten cows (seed 0, docs/methods.md): labelling a generated window costs
    # nothing, and a rotated window's label is what the student needs on a new cow's posture.
    teaching: str = "consistent"
    # Not in DAFL: the teachers whose averaged soft labels (softened probabilities at the KD
    # temperature) the student learns on the generated windows, "arch:seed" or "arch" (the run's
    # seed). The first is the generator's: DAFL's terms read its feature maps and batch norm, so it
    # is a convolutional network (resnet or fcn). A "gru" teacher is the student's own network
    # trained without KD. A forest ("forest", "turned_forest") labels each generated window once, as
    # generated (a forest is too slow to label every batch on the fly); with consistent teaching the
    # networks still label the batch as the student sees it. Every teacher was trained on real
    # data beforehand; the student is not. The default adds the GRU to the ResNet (until 2026-12-07
    # the ResNet alone): pooled MCC 0.618 against 0.574 over seeds 3-5 of bench-accuracy's recipe
    # (docs/methods.md, "The GRU becomes the data-free default"). In a train run the GRU is the
    # fold's student without KD, trained already (TeacherPool.adopt_no_kd_student).
    teachers: list[str] = field(default_factory=lambda: ["resnet", "gru"])
    # Not in DAFL: which of those train the generator. "first": the first alone (DAFL's terms).
    # "networks": every network teacher also adds its one-hot term (cross-entropy towards the
    # class the window is generated for, or its own arg-max), so a window must look like its class
    # to a convolutional and a recurrent network alike.
    generator_teachers: str = "first"
    # Not in DAFL: the student handed over is the mean of its weights at the end of its last
    # average_epochs epochs (collar_kd/training/averaging.py) instead of the last epoch's; 0 = off.
    # It learns on generated windows and is judged on a real cow's, a shift that averaged weights
    # tend to bear better (SWAD). Training itself is unchanged: the last epoch's student is the
    # same with or without it. Off by default: over five seeds of bench-accuracy's recipe, 20 epochs
    # gained +0.002 pooled MCC, 0.03 on the worst seed and a little less on the other four
    # (docs/methods.md, "The data-free student's weights averaged over its last epochs").
    average_epochs: int = 0

    def check(self) -> None:
        check_positive(self, "generator_steps", "generator_batch", "generator_latent", "generated_windows", minimum=1, strict=False)
        check_positive(self, "generator_lr", "generator_range_g", "max_step_g", "motion_range_g", "adversarial_weight")
        check_positive(self, "adversarial_steps", "average_epochs", strict=False)
        check_at_most(self, 4096, "generator_latent")  # as student.hidden
        check_at_most(self, 65_536, "generator_batch")
        check_at_most(self, 1_000_000, "generator_steps", "adversarial_steps", "generated_windows")
        if self.teaching not in DATA_FREE_TEACHING:
            raise ConfigError(f"method.teaching: must be one of {', '.join(DATA_FREE_TEACHING)}, not {self.teaching!r}")
        if not isinstance(self.fresh_windows, bool):
            raise ConfigError(f"method.fresh_windows: must be true or false, not {self.fresh_windows!r}")
        if self.generator_form not in GENERATOR_FORMS:
            raise ConfigError(f"method.generator_form: must be one of {', '.join(GENERATOR_FORMS)}, not {self.generator_form!r}")
        check_positive(self, "activation_weight", "entropy_weight", "bn_statistics_weight", "gravity_weight", "jerk_weight",
                       strict=False)
        if not isinstance(self.teachers, list) or not self.teachers:
            raise ConfigError(f"method.teachers: needs at least one teacher ('arch:seed' or 'arch'), not {self.teachers!r}")
        specs = [parse_teacher_spec(t, run_seed=0) for t in self.teachers]  # the form only
        if self.generator_teachers not in GENERATOR_TEACHERS:
            raise ConfigError(f"method.generator_teachers: must be one of {', '.join(GENERATOR_TEACHERS)}, "
                              f"not {self.generator_teachers!r}")
        if specs[0].arch == GRU or is_forest(specs[0]):
            raise ConfigError(f"method.teachers: the first teacher trains the generator and must be a convolutional "
                              f"network (resnet or fcn), not '{self.teachers[0]}'")


GENERATOR_FORMS = ("free", "gravity")
GENERATOR_TEACHERS = ("first", "networks")
DATA_FREE_TEACHING = ("consistent", "cached")


class WindowGenerator(nn.Module):
    """Latent vector -> (batch, length, channels) window in g, bounded by +-range_g.
    form "gravity": a unit direction from its own head times 1 g, plus the body's output as
    zero-mean motion within +-motion_range_g, cut at +-range_g."""

    def __init__(self, latent: int, length: int, channels: int = 3, width: int = 64, range_g: float = 2.0,
                 n_classes: int = 0, form: str = "free", motion_range_g: float = 1.0):
        super().__init__()
        self.width, self.base, self.range_g, self.n_classes = width, math.ceil(length / 4), range_g, n_classes
        self.form, self.motion_range_g = form, motion_range_g
        self.fc = nn.Linear(latent + n_classes, width * self.base)  # n_classes > 0: class-conditional
        self.gravity = nn.Linear(latent + n_classes, channels) if form == "gravity" else None
        self.body = nn.Sequential(
            nn.BatchNorm1d(width),
            nn.Upsample(scale_factor=2), nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.LeakyReLU(0.2),
            nn.Upsample(size=length), nn.Conv1d(width, width // 2, 5, padding=2), nn.BatchNorm1d(width // 2), nn.LeakyReLU(0.2),
            nn.Conv1d(width // 2, channels, 5, padding=2),
        )

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(classes, self.n_classes).to(z.dtype)], dim=1)
        h = self.fc(z).view(len(z), self.width, self.base)
        if self.gravity is None:
            return (self.range_g * torch.tanh(self.body(h))).transpose(1, 2)
        motion = self.motion_range_g * torch.tanh(self.body(h))
        motion = motion - motion.mean(dim=2, keepdim=True)
        down = F.normalize(self.gravity(z), dim=1).unsqueeze(2)  # 1 g: the collar's gravity
        return torch.clamp(down + motion, -self.range_g, self.range_g).transpose(1, 2)


class BatchNormStatistics:
    """Forward hooks on the teacher's batch-norm layers: how far the batch statistics of what
    they see are from the running statistics they learned on real data (DeepInversion's
    regulariser; data-free: it reads only the teacher's stored buffers)."""

    def __init__(self, teacher: nn.Module):
        self.terms: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in teacher.modules() if isinstance(m, nn.BatchNorm1d)]

    def _hook(self, module: nn.BatchNorm1d, inputs, output) -> None:
        x = inputs[0]
        mean, var = x.mean(dim=(0, 2)), x.var(dim=(0, 2), unbiased=False)
        self.terms.append(torch.norm(mean - module.running_mean, 2) + torch.norm(var - module.running_var, 2))

    def take(self) -> torch.Tensor:
        total = torch.stack(self.terms).sum() if self.terms else torch.zeros((), device=compute_device())
        self.terms = []
        return total

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def dafl_losses(teacher: nn.Module, xg: torch.Tensor, bn: BatchNormStatistics | None = None,
                classes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """DAFL's terms; with `classes` (a class-conditional generator) the one-hot term aims at the
    class each window was generated for instead of the teacher's own arg-max."""
    feats = teacher.features(xg).mean(dim=2)
    logits = teacher.out(feats)
    p_mean = F.softmax(logits, dim=1).mean(dim=0)
    out = {
        "one_hot": F.cross_entropy(logits, logits.argmax(dim=1) if classes is None else classes),
        "activation": -feats.abs().mean(),
        "info_entropy": (p_mean * torch.log(p_mean + 1e-12)).sum(),  # = -H(mean prediction)
    }
    if bn is not None:
        out["bn_statistics"] = bn.take()
    return out


def physics_losses(xg: torch.Tensor, max_step_g: float) -> dict[str, torch.Tensor]:
    """How far generated windows (batch, time, 3) in g are from collar physics: the squared gap
    between each window's mean acceleration magnitude and 1 g, and the mean squared excess of
    sample-to-sample steps over max_step_g."""
    magnitude = xg.norm(dim=2).mean(dim=1)
    steps = (xg[:, 1:] - xg[:, :-1]).abs()
    return {"gravity": ((magnitude - 1.0) ** 2).mean(), "jerk": (F.relu(steps - max_step_g) ** 2).mean()}


def dealt_classes(n: int, n_classes: int) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: every class equally often."""
    return torch.arange(n) % n_classes


class GeneratorTraining:
    """The generator and its optimiser against a fixed teacher (eval mode, frozen while a step
    runs). n_classes > 0 (with m.class_conditional): a class-conditional generator. step() is
    one DAFL step (plus the switched-on additions); step(student, temperature) adds DFAD's
    adversarial term: minus the teacher-student KL, so the generator seeks their disagreement."""

    def __init__(self, teacher: nn.Module, m, length: int, seed: int, n_classes: int = 0, others: tuple = ()):
        torch.manual_seed(seed)
        self.teacher, self.m = teacher, m
        self.others = tuple(others)  # more networks whose one-hot terms pull the generator (generator_teachers)
        self.gen = WindowGenerator(m.generator_latent, length, range_g=m.generator_range_g, n_classes=n_classes,
                                   form=m.generator_form, motion_range_g=m.motion_range_g)
        self.classes = dealt_classes(m.generator_batch, n_classes) if n_classes else None
        self.opt = torch.optim.Adam(self.gen.parameters(), lr=m.generator_lr)
        self.noise = torch.Generator().manual_seed(seed)
        self.steps = 0
        self.history: list[dict] = []

    def step(self, student: nn.Module | None = None, temperature: float = 1.0) -> None:
        m, teacher, gen = self.m, self.teacher, self.gen
        nets = (teacher, *self.others)
        frozen = [(p, p.requires_grad) for net in (*nets, student) if net is not None for p in net.parameters()]
        for p, _ in frozen:
            p.requires_grad_(False)
        for net in nets:
            net.eval()
        bn = BatchNormStatistics(teacher) if m.bn_statistics_weight > 0 else None
        try:
            device = compute_device()
            for net in (gen, *nets, student):
                if net is not None:
                    net.to(device)
            gen.train()
            z = to_compute(torch.randn(m.generator_batch, m.generator_latent, generator=self.noise))
            classes = None if self.classes is None else to_compute(self.classes)
            xg = gen(z, classes)
            parts = dafl_losses(teacher, xg, bn, classes)
            loss = parts["one_hot"] + m.activation_weight * parts["activation"] + m.entropy_weight * parts["info_entropy"]
            for i, net in enumerate(self.others, start=1):
                z = net(xg)
                parts[f"one_hot_{i}"] = F.cross_entropy(z, z.argmax(dim=1) if classes is None else classes)
                loss = loss + parts[f"one_hot_{i}"]
            if m.gravity_weight > 0 or m.jerk_weight > 0:
                parts.update(physics_losses(xg, m.max_step_g))
                loss = loss + m.gravity_weight * parts["gravity"] + m.jerk_weight * parts["jerk"]
            if bn is not None:
                loss = loss + m.bn_statistics_weight * parts["bn_statistics"]
            if student is not None:
                # The student's own soft term (T^2 KL, teacher || student), here maximised.
                parts["disagreement"] = kl_term(student(xg), teacher(xg), temperature)
                loss = loss - m.adversarial_weight * parts["disagreement"]
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        finally:
            if bn is not None:
                bn.close()
            for p, f in frozen:
                p.requires_grad_(f)
        if self.steps % 50 == 0 or (student is None and self.steps == m.generator_steps - 1):
            self.history.append({"step": self.steps, "adversarial": student is not None, "loss": round(float(loss.detach()), 5),
                                 **{k: round(float(v.detach()), 5) for k, v in parts.items()}})
        self.steps += 1

    def done(self) -> None:
        """Models live on the CPU between computations (training/device.py)."""
        for net in (self.gen, self.teacher, *self.others):
            net.to("cpu")


@torch.no_grad()
def generate(gen: WindowGenerator, n: int, latent: int, batch: int, seed: int) -> np.ndarray:
    """n generated windows; batch norm keeps batch statistics, as in generator training."""
    noise = torch.Generator().manual_seed(seed)
    gen.train()
    classes = dealt_classes(batch, gen.n_classes) if gen.n_classes else None
    out = [gen(torch.randn(batch, latent, generator=noise), classes) for _ in range(-(-n // batch))]
    return torch.cat(out)[:n].numpy().astype(np.float32)


def labels_of(teachers: list[nn.Module], forest_tables: list[torch.Tensor], x: np.ndarray, temperature: float) -> np.ndarray:
    """The teachers' soft labels on x as logits (one teacher: its own; several: their averaged
    probabilities at `temperature`, as consistent_targets combines them batch by batch); the
    forests' are their tables of x's logits."""
    return ensemble_logits([predict_logits(t, x) for t in teachers] + [t.cpu().numpy() for t in forest_tables], temperature)


@register("data-free", "data-free distillation on generated windows (DAFL, with collar priors)", DataFreeSettings)
def train_data_free(job: StudentJob) -> MethodResult:
    cfg, m = job.cfg, job.settings
    specs = [parse_teacher_spec(t, cfg.seed) for t in m.teachers]
    teachers = [job.teachers.get(s) for s in specs if not is_forest(s)]
    forests = [job.teachers.forest(s) for s in specs if is_forest(s)]  # trained beforehand, as the networks
    teacher = teachers[0]  # the generator's
    n_classes = job.n_classes if m.class_conditional else 0
    others = teachers[1:] if m.generator_teachers == "networks" else ()
    training = GeneratorTraining(teacher, m, job.window_length, cfg.seed + 11, n_classes, others)
    with job.task("data-free generator", m.generator_steps) as advance:
        try:
            for _ in range(m.generator_steps):
                training.step()
                advance()
        finally:
            training.done()
    gen = training.gen
    xg = generate(gen, m.generated_windows, m.generator_latent, m.generator_batch, cfg.seed + 12)
    forest_tables = [to_compute(torch.from_numpy(forest_logits(f, xg))) for f in forests]  # rewritten with fresh windows
    soft = labels_of(teachers, forest_tables, xg, cfg.kd.temperature)
    pseudo = soft.argmax(axis=1)  # only for the loss signature: alpha = 1 ignores it
    student = job.new_student()
    loss = make_loss(KDConfig(loss="kd", alpha=1.0, temperature=cfg.kd.temperature))
    refresh = m.fresh_windows or m.adversarial_steps > 0
    mode = "consistent" if m.teaching == "consistent" and cfg.augmentation().active else "cached"
    # fit trains on these tensors; with fresh windows both are rewritten in place between epochs.
    windows, table = torch.from_numpy(xg), to_compute(torch.from_numpy(soft.copy()))
    targets = (consistent_targets(teachers, cfg.kd.temperature, tuple(forest_tables)) if mode == "consistent"
               else cached_targets(table))
    shares = [np.bincount(pseudo, minlength=job.n_classes)]

    def next_epoch(epoch: int, _loss: float) -> None:
        advance()
        if not refresh or epoch == cfg.student.epochs - 1:
            return
        if m.adversarial_steps:
            try:
                for _ in range(m.adversarial_steps):
                    training.step(student, cfg.kd.temperature)
            finally:
                training.done()
        fresh = generate(gen, m.generated_windows, m.generator_latent, m.generator_batch, cfg.seed + 13 + epoch)
        windows.copy_(torch.from_numpy(fresh))
        for forest_table, forest in zip(forest_tables, forests):
            forest_table.copy_(to_compute(torch.from_numpy(forest_logits(forest, fresh))))
        relabel = mode != "consistent" or epoch % 10 == 9
        logits = labels_of(teachers, forest_tables, fresh, cfg.kd.temperature) if relabel else None
        if mode != "consistent":
            table.copy_(to_compute(torch.from_numpy(logits)))
        if epoch % 10 == 9:  # what the teacher calls the windows, now and then (the report)
            shares.append(np.bincount(logits.argmax(axis=1), minlength=job.n_classes))

    average = LastEpochsAverage(student, m.average_epochs, cfg.student.epochs, then=next_epoch)
    with job.task("data-free student", cfg.student.epochs) as advance:
        history = fit(student, windows, pseudo, loss, cfg.student.epochs, cfg.student.batch_size, cfg.student.lr, cfg.seed,
                      targets=targets, on_epoch=average, augment=cfg.augmentation())
    average.apply()
    share = np.sum(shares, axis=0) / (len(shares) * len(pseudo))
    return MethodResult(student, report={
        "teacher": str(specs[0]), "teachers": [str(s) for s in specs], "generator_teachers": m.generator_teachers,
        "generated_windows": m.generated_windows,
        "generator_steps": m.generator_steps, "generator_batch": m.generator_batch, "generator_lr": m.generator_lr,
        "loss_weights": {"one_hot": 1.0, "activation": m.activation_weight, "info_entropy": m.entropy_weight,
                         "bn_statistics": m.bn_statistics_weight, "gravity": m.gravity_weight, "jerk": m.jerk_weight,
                         "disagreement": -m.adversarial_weight if m.adversarial_steps else 0.0},
        "class_conditional": m.class_conditional, "generator_form": m.generator_form,
        "motion_range_g": m.motion_range_g, "fresh_windows": refresh, "adversarial_steps": m.adversarial_steps,
        "generator_loss": training.history,
        "teacher_class_share_on_generated": [round(float(v), 4) for v in share],
        "generated_range_g": [round(float(xg.min()), 3), round(float(xg.max()), 3)],
        "student_loss": "KL to the teacher's soft labels only (alpha = 1): no real windows, no labels",
        "averaged_epochs": len(average.states),
        "temperature": cfg.kd.temperature, "teaching": mode, "loss_per_epoch": [round(v, 5) for v in history],
    })
