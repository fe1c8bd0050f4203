"""The resolved configuration of a training run: defaults, a config file, then CLI overrides.

A config file is TOML or JSON with the sections [data], [teacher], [student], [kd] and
top-level keys (seed, cv, ...). An unknown key or a value of the wrong type is an error that
names the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collar_kd.errors import ConfigError
from collar_kd.quant.spec import CALIBRATIONS, LAYERS, ROUNDINGS, WEIGHT_BITS, WEIGHT_FORMATS
from collar_kd.training.augment import Augmentation
from collar_kd.training.device import DEVICES


FRAMES = ("sensor", "animal")  # data.frame, collar_kd/data/frame.py


@dataclass
class DataConfig:
    path: str = "synthetic"
    format: str = "synthetic"  # synthetic | csv | wasp | bouts (a per-bout folder layout)
    layout: str | None = None  # bouts: a shipped layout name (data/layouts) or a layout JSON path
    class_map: str | None = None  # shipped name or JSON path; wasp defaults to wasp_default
    sample_rate: float | None = None  # model rate in Hz; None keeps the data's own rate
    window: str = "2s"  # seconds ('2s') or samples ('50')
    stride: str = "1s"
    # "sensor": the windows as recorded; "animal": every animal's samples turned about the sensor's
    # z axis so that its mean x-y acceleration points along +x (collar_kd/data/frame.py): one frame
    # for every collar whatever its heading on the neck, from the animal's own data, no labels.
    frame: str = "sensor"
    synthetic_settings: str | None = None
    # Generic CSV layout.
    csv_sample_rate: float | None = None
    animal_column: str = "animal"
    axis_columns: list[str] = field(default_factory=lambda: ["ax", "ay", "az"])
    label_column: str = "label"
    time_column: str | None = "timestamp"
    units: str = "g"  # one of UNITS
    counts_per_g: float | None = None


@dataclass
class UnlabelledConfig:
    """Recordings whose labels are absent or ignored: the teacher labels their windows and the
    distilled student learns from them through the soft term only. Read like [data] (same
    window, stride, rate and CSV layout), with their own path and format."""

    path: str | None = None
    format: str | None = None  # default: [data]'s format


TEACHER_SELECTION = ("none", "checkpoint", "epoch")  # teacher.selection


@dataclass
class TeacherConfig:
    # Wang et al.'s sizes; the collar recipe halves them (as accurate on real collars, 3.4x cheaper).
    filters: list[int] = field(default_factory=lambda: [64, 128, 128])
    kernels: list[int] = field(default_factory=lambda: [8, 5, 3])
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    # Mixup for the teacher networks: each batch mixed with a shuffled copy of itself, the labels
    # likewise, lam ~ Beta(mixup, mixup); 0 is off (collar_kd/training/loop.py, fit).
    mixup: float = 0.0
    # How many epochs the teacher keeps, judged on an inner leave-animals-out split of the fold's
    # training animals (never the held-out animal): "none" keeps the last epoch; "checkpoint"
    # trains on all but `validation_animals` training animals and keeps the epoch with the best
    # MCC on those; "epoch" then retrains on every training animal (same schedule) up to that
    # epoch (twice the teacher's training time). collar_kd/distill/teachers.py.
    selection: str = "none"
    validation_animals: int = 2


@dataclass
class StudentConfig:
    hidden: int = 32
    head: int = 32
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3


TEACHING = ("cached", "consistent", "auto", "crossfit")  # kd.teaching, see collar_kd/distill/targets.py


def teaching_mode(teaching: str, augmenting: bool) -> str:
    """What kd.teaching does when training augments or not: "auto" resolved."""
    if teaching not in TEACHING:
        raise ConfigError(f"kd.teaching: must be one of {', '.join(TEACHING)}, not '{teaching}'")
    if teaching == "auto":
        return "consistent" if augmenting else "cached"
    return teaching


MAX_EPOCHS = 100_000  # every epoch count (teacher, student, transductive, a method's own): a typo, not a schedule
UNITS = ("g", "m/s2", "counts")  # DataConfig.units; collar_kd/data/units.py converts them to g
TRANSDUCTIVE_LABELS = ("teachers", "with_student", "student")  # TrainConfig.transductive_labels
TRANSDUCTIVE_WINDOWS = ("all", "unlabelled")  # TrainConfig.transductive_windows
BASELINE_FORESTS = ("forest", "turned_forest")  # TrainConfig.baseline_forest (teacher names, distill/teachers.py)
TRANSFER_SETS = ("none", "mixup")  # kd.transfer, see collar_kd/distill/transfer.py
KD_STARTS = ("fresh", "no_kd_student")  # kd.start: where the distilled student (kd, ensemble) starts
NETWORK_TEACHERS = ("resnet", "fcn", "gru")  # kd.crossfit_teachers: the network teachers (distill/teachers.py)


@dataclass
class KDConfig:
    loss: str = "kd"  # a name in collar_kd.distill.losses.LOSSES
    alpha: float = 0.7  # weight of the soft (teacher) term
    temperature: float = 4.0
    # The soft-term weight over training: "constant" keeps alpha; "linear" and "cosine" lower it
    # from alpha to alpha_end (a decreasing coefficient worked best for quantized students).
    alpha_schedule: str = "constant"
    alpha_end: float = 0.0
    # What the soft term compares with (collar_kd/distill/targets.py): "cached" teacher logits of
    # the windows as they are, "consistent" ones computed on the very augmented batch the student
    # sees, or "auto" (consistent when training augments, cached otherwise). Cached is the default:
    # on the WASP collars with 90-degree rotations it beat consistent teaching by 0.032 MCC over a
    # 3-fold pilot at 40 epochs (the teacher is less accurate on rotated windows than on clean ones).
    teaching: str = "cached"
    # "crossfit": each training animal's windows are labelled by inner teachers that never saw that
    # animal (the training animals split into crossfit_groups groups, one inner teacher per group
    # left out): soft labels with the teacher's real uncertainty on a new animal, not its memory of
    # its own training windows. Costs crossfit_groups more teacher trainings per fold.
    crossfit_groups: int = 3
    # Cross-fitting for some network teachers only, under cached teaching: the soft labels of the
    # training windows from these architectures ("resnet", "fcn", "gru") come from inner teachers
    # that never saw the window's animal, as above (forests always are cross-fitted). Meant for a
    # "gru" teacher, the student's own network: its soft labels of its own training windows are its
    # memory of them. Costs crossfit_groups more trainings of each listed teacher per fold.
    crossfit_teachers: list = field(default_factory=list)
    # Per-window weights of the soft term: "none" (Hinton: the soft term, most of the loss, is a
    # plain mean and so follows the data's class imbalance) or "class" (each window weighted by
    # its label's class weight, [class_weighting], like the hard term; a window without a label by
    # its teacher's top class).
    soft_weighting: str = "none"
    # Knowledge adjustment (Wen et al., "Preparing lessons", 2019): "swap" exchanges the teacher's
    # logits of its top class and of the window's label wherever the two differ, so the soft label
    # always ranks the true behaviour first and keeps the teacher's view of the others; "none"
    # distils the teacher as it is, mistakes included. Windows without a label are never changed.
    teacher_correction: str = "none"
    # Mixup for the distilled student (kd and ensemble): windows mixed in pairs, lam ~ Beta(mixup,
    # mixup) per batch; the soft label of a mixed window is the teachers' answer on it (consistent
    # teaching) or its two windows' cached soft labels mixed likewise. 0 is off.
    mixup: float = 0.0
    # A transfer set for the soft term (collar_kd/distill/transfer.py): "mixup" adds windows mixed
    # from pairs of training windows of two different animals, labelled by the teachers and learnt
    # through the soft term only, transfer_size times as many as the training windows; "none" is off.
    transfer: str = "none"
    transfer_size: float = 1.0
    # Teachers that label the transfer set's windows instead of the method's (names as in
    # method.teachers, e.g. ["resnet", "forest", "gru"]; empty: the method's own). No teacher saw
    # a transfer window, so a teacher whose labels of its own training windows are memory (the
    # student without KD, "gru") can label them honestly. Cached soft labels only.
    transfer_teachers: list = field(default_factory=list)
    # The distilled student's epochs when it starts fresh (kd and ensemble; 0: the [student]
    # epochs). With a transfer set every epoch holds transfer_size times more windows than the
    # student without KD's: kd.epochs = student.epochs / (1 + transfer_size) gives both students
    # the same number of steps, and the distilled one half its time.
    epochs: int = 0
    # Test-time augmentation for the teachers (cached and crossfit soft labels, the transfer set's
    # labels and the kd_teacher row): each window is labelled as it is and as teacher_views copies
    # turned by the run's own random rotations, their class probabilities averaged. A teacher may
    # spend compute a collar cannot; averaged over turns, its answer depends less on how this
    # collar happens to sit. 0 is off; needs rotation augmentation (augment_rotation_deg or _axes_deg).
    teacher_views: int = 0
    # Where the distilled student starts (kd and ensemble): "fresh" weights, seeded like the
    # student without KD, or "no_kd_student", a copy of the fold's student without KD, which the
    # run trains anyway, then distilled for start_epochs epochs (0: the [student] epochs) at the
    # [student] learning rate: the soft labels refine a student that has already learnt the labels.
    start: str = "fresh"
    start_epochs: int = 0
    # The distilled student's last epochs (kd and ensemble), after its float training: through the
    # fake-quantized integer graph (method.weight_bits, calibration, weight_formats; formats from
    # the labelled training windows) towards its own float soft labels and the labels, with the
    # run's KD loss and class weights, on the labelled windows as they are (collar_kd/quant/qat.py).
    # The 8-bit model then keeps what the float one knows; 0 is off.
    qat_epochs: int = 0


@dataclass
class MethodConfig:
    """How the distilled student (`student_kd`) is trained. `name` picks a method registered in
    collar_kd/methods/; that method owns its settings (its own dataclass, defaults and checks),
    given here as further keys of [method] and kept, unchecked, in `options` until the method
    registry resolves them."""

    name: str = "kd"
    # Weight word length the student is trained for (qat-kd, speq) and, by default, exported with:
    # 2..8 or 16. The quantizer and simulator take all of them; the C export only 8 and 16.
    weight_bits: int = 8
    # How fractional lengths are calibrated from the float model: range (max-based) or mse.
    calibration: str = "range"
    # Weight formats: "row" (every output row its own fractional length and shift) or "tensor"
    # (one per layer); collar_kd/quant/quantizer.py, docs/fixed-point.md.
    weight_formats: str = "row"
    # Layers with a word length of their own, e.g. {inp = 16, ih = 16}: the input layer and the GRU's
    # input matrix in 16 bits, the rest in weight_bits (layers: inp, ih, hh, fc1, fc2). On the WASP
    # collars theirs is the 8-bit rounding the integer model loses to (docs/methods.md, "Which
    # layer's 8 bits cost the MCC"); 3.6 KB more flash at hidden 32. Empty: all in weight_bits.
    layer_weight_bits: dict = field(default_factory=dict)
    # How weights meet their grid: "compensated" (each column's rounding error made up by the columns
    # and bias rounded after it, on the calibration windows: GPTQ with the bias as a last column) or
    # "nearest". On the WASP collars (bench-accuracy, five seeds) compensated rounding took the 8-bit
    # model from 0.008 below its float model to 0.001 above it (docs/fixed-point.md, "Rounding that
    # compensates"; docs/methods.md); the formats and the C are the same.
    rounding: str = "compensated"
    options: dict = field(default_factory=dict)

    def precision(self) -> dict:
        """What the student is trained for and exported with by default (recorded in a run's
        models/models.json and reports); the layers' own widths only when some differ."""
        wide = {"layer_weight_bits": self.layer_bits()} if self.layer_bits() else {}
        return {"weight_bits": self.weight_bits, "calibration": self.calibration, "weight_formats": self.weight_formats,
                "rounding": self.rounding, **wide}

    def quantizer_args(self) -> dict:
        """quantize_student's keyword arguments for the integer model this method trains for."""
        return {"weight_bits": self.weight_bits, "calibration": self.calibration, "weight_formats": self.weight_formats,
                "layer_bits": self.layer_bits(), "rounding": self.rounding}

    def layer_bits(self) -> dict[str, int]:
        """The layers whose weights differ from weight_bits (quantize_student's layer_bits)."""
        return {k: v for k, v in self.layer_weight_bits.items() if v != self.weight_bits}


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    kd: KDConfig = field(default_factory=KDConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    unlabelled: UnlabelledConfig = field(default_factory=UnlabelledConfig)
    cv: str = "loao"  # loao | none
    seed: int = 0
    # More training seeds for cross-validation (the data stay those of `seed`): metrics.json and
    # report.md then give the mean and spread over seeds and paired differences with 95%
    # bootstrap intervals over animals. The final models use `seed`.
    extra_seeds: list[int] = field(default_factory=list)
    # Leave-one-animal-out only: also distil a student that sees the held-out animal's windows
    # *without their labels* (a new farm without labels: transductive adaptation). It gets its own
    # row, `student_kd_transductive`, beside the strict `student_kd`, never in place of it.
    transductive: bool = False
    # How the transductive student is trained: 0, a fresh student on the full [student] schedule;
    # N > 0, the strict distilled student fine-tuned for N epochs (learning rate student.lr times
    # transductive_lr_scale), so it starts from the strict row and can only adapt from there, at a
    # fraction of the cost (docs/methods.md, "Unlabelled windows").
    transductive_epochs: int = 0
    transductive_lr_scale: float = 0.1
    # Who labels the unlabelled windows of the transductive student (the held-out animal's, and
    # those of --unlabelled recordings): "teachers" (the distilled student's teachers, as for the
    # strict student), "with_student" (the mean of the teachers' softened probability and the
    # strict student's: with a transfer set the strict student can be better than its teachers on
    # a new animal) or "student" (the strict student alone: self-training). The last two need
    # cached soft labels (kd.teaching cached or crossfit).
    transductive_labels: str = "teachers"
    # Which teachers label those windows (with transductive_labels "teachers" or "with_student"):
    # teacher names as in method.teachers ("arch:seed" or "arch"); empty, the distilled student's
    # own. On the shared cows ["turned_forest"] with "with_student" labels a new cow better than
    # the student alone; the student fine-tuned on those labels gains little among all the
    # training windows, and takes up the whole gain on the new cow's windows alone
    # (transductive_windows; the collar recipe's choice, docs/methods.md "The new cow's windows alone").
    transductive_teachers: list[str] = field(default_factory=list)
    # What the transductive fine-tune (transductive_epochs > 0) trains on: "all", the training
    # windows, the transfer set and the held-out animal's unlabelled windows (a twentieth of each
    # epoch on the shared cows); "unlabelled", the held-out animal's windows alone, through the
    # soft term only: the student is taught the labeller's answers on the very cow it will meet.
    transductive_windows: str = "all"
    # Class weights in every loss and the forest: "balanced" (inverse frequency), "sqrt" (its
    # square root: rare classes count more without swamping the rest), or "none".
    class_weighting: str = "sqrt"
    # Training windows are rotated at random by up to this many degrees about each axis, every
    # epoch: collars sit differently on every animal, and leave-one-animal-out punishes that.
    augment_rotation_deg: float = 0.0
    # Or a limit per sensor axis [x, y, z] in degrees, in place of augment_rotation_deg (empty: not
    # used). Collar physics: the box is strapped on at any angle about its own face normal and
    # tilts only a little about the other two; on the WASP collars that is [15, 15, 180] (the
    # per-cow mean gravity vectors differ by a turn about z; see docs/methods.md).
    augment_rotation_axes_deg: list[float] = field(default_factory=list)
    # More augmentations of collar physics (collar_kd/training/augment.py), every model, every epoch:
    augment_scale: float = 0.0  # amplitude times 1 + U(-s, s) per window (sensor gain)
    augment_noise_g: float = 0.0  # Gaussian sensor noise, standard deviation in g
    augment_shift: int = 0  # time shift by up to this many samples either way
    rf_trees: int = 200
    # The forest (baseline and teacher) also learns from rf_turned_copies copies of every training
    # window turned by the run's random rotations, as every network sees turned windows in training:
    # its window statistics (the mean acceleration is the posture) otherwise fit each training
    # cow's collar angle. 0 is off; needs the run's rotations.
    rf_turned_copies: int = 0
    # The teacher "turned_forest" is that forest trained on this many turned copies whatever
    # rf_turned_copies says, so a recipe can teach with it and keep the plain baseline row.
    turned_forest_copies: int = 4
    # Which forest is the run's baseline row (baseline_rf, saved with the final models): "forest"
    # (rf_turned_copies turned copies, the teacher "forest" itself) or "turned_forest" (the teacher
    # of that name: turned_forest_copies copies, whatever rf_turned_copies says), so a recipe can
    # compare against the stronger forest while its students keep learning from the plain one.
    baseline_forest: str = "forest"
    final_models: bool = True  # also train all models on every animal (for export)
    save_fold_models: bool = False  # keep every fold's neural models (benchmarks reuse them)
    threads: int = 2
    # Where the networks train and predict (collar_kd/training/device.py): "auto" (CUDA if PyTorch
    # sees a GPU), "cpu" or "cuda". Quantization, the simulator and export always use the CPU.
    device: str = "auto"
    # Shipped defaults for a kind of data, applied under the config file and the command line
    # (data/recipes/NAME.toml, or a TOML path): "auto" takes "collar" for real data (every format
    # but synthetic) and none for the synthetic demo; "none" takes the plain defaults above. The
    # run records the recipe it applied (config.json, report.md).
    recipe: str = "auto"

    def augmentation(self) -> Augmentation:
        axes = tuple(float(v) for v in self.augment_rotation_axes_deg) if self.augment_rotation_axes_deg else None
        return Augmentation(self.augment_rotation_deg, self.augment_scale, self.augment_noise_g, self.augment_shift, axes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.class_weighting not in ("balanced", "sqrt", "none"):
            raise ConfigError(f"class_weighting: must be 'balanced', 'sqrt' or 'none', not '{self.class_weighting}'")
        if not 0.0 <= self.augment_rotation_deg <= 180.0:
            raise ConfigError(f"augment_rotation_deg: must be in [0, 180], not {self.augment_rotation_deg}")
        axes = self.augment_rotation_axes_deg
        if axes:
            if len(axes) != 3 or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                                     or not 0.0 <= v <= 180.0 for v in axes):
                raise ConfigError(f"augment_rotation_axes_deg: three angles [x, y, z] in degrees, each in [0, 180], not {axes}")
            if self.augment_rotation_deg > 0:
                raise ConfigError("augment_rotation_axes_deg: give either it or augment_rotation_deg (one limit for every "
                                  f"axis), not both (got {axes} and {self.augment_rotation_deg})")
        if not 0.0 <= self.augment_scale < 1.0:
            raise ConfigError(f"augment_scale: must be in [0, 1), not {self.augment_scale}")
        if not 0.0 <= self.augment_noise_g <= 1.0:
            raise ConfigError(f"augment_noise_g: must be in [0, 1] g, not {self.augment_noise_g}")
        if not 0 <= self.augment_shift <= 1000:
            raise ConfigError(f"augment_shift: must be 0 to 1000 samples, not {self.augment_shift}")
        if self.device not in DEVICES:
            raise ConfigError(f"device: must be one of {', '.join(DEVICES)}, not '{self.device}'")
        if self.cv not in ("loao", "none"):
            raise ConfigError(f"cv: must be 'loao' or 'none', not '{self.cv}'")
        if not 0.0 <= self.kd.alpha <= 1.0:
            raise ConfigError(f"kd.alpha: must be in [0, 1], not {self.kd.alpha}")
        if self.kd.temperature <= 0:
            raise ConfigError(f"kd.temperature: must be positive, not {self.kd.temperature}")
        if self.kd.alpha_schedule not in ("constant", "linear", "cosine"):
            raise ConfigError(f"kd.alpha_schedule: must be 'constant', 'linear' or 'cosine', not '{self.kd.alpha_schedule}'")
        if not 0.0 <= self.kd.alpha_end <= 1.0:
            raise ConfigError(f"kd.alpha_end: must be in [0, 1], not {self.kd.alpha_end}")
        if isinstance(self.kd.crossfit_groups, bool) or not isinstance(self.kd.crossfit_groups, int) \
                or not 2 <= self.kd.crossfit_groups <= 100:
            raise ConfigError(f"kd.crossfit_groups: a whole number from 2 to 100, not {self.kd.crossfit_groups}")
        v = self.kd.crossfit_teachers
        if not isinstance(v, list) or any(a not in NETWORK_TEACHERS for a in v) or len(set(v)) != len(v):
            raise ConfigError(f"kd.crossfit_teachers: a list of distinct network teachers from {', '.join(NETWORK_TEACHERS)} "
                              f"(forests are always cross-fitted), not {v!r}")
        if v and teaching_mode(self.kd.teaching, self.augmentation().active) == "consistent":
            raise ConfigError(f"kd.crossfit_teachers: cross-fitting is for soft labels computed once (kd.teaching cached); "
                              f"consistent teaching labels the student's own rotated batch (kd.teaching '{self.kd.teaching}')")
        if self.teacher.selection not in TEACHER_SELECTION:
            raise ConfigError(f"teacher.selection: must be one of {', '.join(TEACHER_SELECTION)}, not '{self.teacher.selection}'")
        v = self.teacher.validation_animals
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1000:
            raise ConfigError(f"teacher.validation_animals: a whole number from 1 to 1000, not {v}")
        for name, value in (("teacher.mixup", self.teacher.mixup), ("kd.mixup", self.kd.mixup)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0.0 <= value <= 10.0:
                raise ConfigError(f"{name}: the Beta(a, a) parameter of mixup, from 0 (off) to 10, not {value}")
        if self.kd.soft_weighting not in ("none", "class"):
            raise ConfigError(f"kd.soft_weighting: must be 'none' or 'class', not '{self.kd.soft_weighting}'")
        if self.kd.teacher_correction not in ("none", "swap"):
            raise ConfigError(f"kd.teacher_correction: must be 'none' or 'swap', not '{self.kd.teacher_correction}'")
        if self.kd.transfer not in TRANSFER_SETS:
            raise ConfigError(f"kd.transfer: must be one of {', '.join(TRANSFER_SETS)}, not '{self.kd.transfer}'")
        v = self.kd.transfer_size
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0.0 < v <= 20.0:
            raise ConfigError(f"kd.transfer_size: a multiple of the training windows, above 0 and at most 20, not {v}")
        if self.kd.teaching not in TEACHING:
            raise ConfigError(f"kd.teaching: must be one of {', '.join(TEACHING)}, not '{self.kd.teaching}'")
        v = self.kd.teacher_views
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 64:
            raise ConfigError(f"kd.teacher_views: a whole number of rotated copies from 0 (off) to 64, not {v}")
        if v and not self.augmentation().rotation_limits:
            raise ConfigError(f"kd.teacher_views: {v} rotated copies need the run's rotations (augment_rotation_deg or "
                              "augment_rotation_axes_deg); this run has none")
        if v and teaching_mode(self.kd.teaching, self.augmentation().active) == "consistent":
            raise ConfigError(f"kd.teacher_views: rotated copies are for soft labels computed once (kd.teaching cached or "
                              f"crossfit); consistent teaching labels the student's own rotated batch (kd.teaching "
                              f"'{self.kd.teaching}')")
        self._check_epoch_count("kd.epochs", self.kd.epochs, "the [student] epochs")
        if self.kd.start not in KD_STARTS:
            raise ConfigError(f"kd.start: must be one of {', '.join(KD_STARTS)}, not '{self.kd.start}'")
        self._check_epoch_count("kd.start_epochs", self.kd.start_epochs, "the [student] epochs")
        self._check_epoch_count("kd.qat_epochs", self.kd.qat_epochs, "off")
        self._validate_method()
        for name, sec in (("teacher", self.teacher), ("student", self.student)):
            for key, most in (("epochs", MAX_EPOCHS), ("batch_size", 1_000_000)):
                if not 1 <= getattr(sec, key) <= most:
                    raise ConfigError(f"{name}.{key}: must be a whole number from 1 to {most:,}, not {getattr(sec, key)}")
            if sec.lr <= 0:
                raise ConfigError(f"{name}.lr: must be positive")
        if len(self.teacher.filters) != len(self.teacher.kernels) or not self.teacher.filters:
            raise ConfigError("teacher.filters and teacher.kernels: need the same, non-zero number of blocks")
        for key in ("filters", "kernels"):
            values = getattr(self.teacher, key)
            if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 4096 for v in values):
                raise ConfigError(f"teacher.{key}: whole numbers from 1 to 4096, not {values}")
        if not (1 <= self.student.hidden <= 4096 and 1 <= self.student.head <= 4096):
            raise ConfigError(f"student.hidden and student.head: must be from 1 to 4096, not {self.student.hidden} and "
                              f"{self.student.head}")
        if self.data.frame not in FRAMES:
            raise ConfigError(f"data.frame: must be one of {', '.join(FRAMES)}, not '{self.data.frame}'")
        if self.data.units not in UNITS:  # every format, so a typo is not ignored where units do not apply
            raise ConfigError(f"data.units: must be one of {', '.join(UNITS)}, not '{self.data.units}'")
        if len(self.data.axis_columns) != 3:
            raise ConfigError("data.axis_columns: needs exactly three names (x, y, z)")
        for name, value, low, high in (("seed", self.seed, 0, 2**32 - 1), ("threads", self.threads, 1, 1024),
                                       ("rf_trees", self.rf_trees, 1, 100_000), ("rf_turned_copies", self.rf_turned_copies, 0, 64),
                                       ("turned_forest_copies", self.turned_forest_copies, 1, 64)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name}: must be a whole number from {low} to {high}, not {value}")
        if self.baseline_forest not in BASELINE_FORESTS:
            raise ConfigError(f"baseline_forest: must be one of {', '.join(BASELINE_FORESTS)}, not '{self.baseline_forest}'")
        if self.baseline_forest == "turned_forest" and not self.augmentation().rotation_limits:
            raise ConfigError("baseline_forest: 'turned_forest' learns from copies turned by the run's rotations "
                              "(augment_rotation_deg or augment_rotation_axes_deg); this run has none")
        if self.rf_turned_copies and not self.augmentation().rotation_limits:
            raise ConfigError(f"rf_turned_copies: {self.rf_turned_copies} turned copies need the run's rotations "
                              "(augment_rotation_deg or augment_rotation_axes_deg); this run has none")
        if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32 for s in self.extra_seeds) \
                or self.seed in self.extra_seeds \
                or len(set(self.extra_seeds)) != len(self.extra_seeds):
            raise ConfigError(f"extra_seeds: whole numbers from 0 to {2**32 - 1} other than seed ({self.seed}), each once; "
                              f"got {self.extra_seeds}")
        if isinstance(self.transductive_epochs, bool) or not isinstance(self.transductive_epochs, int) \
                or not 0 <= self.transductive_epochs <= MAX_EPOCHS:
            raise ConfigError(f"transductive_epochs: must be a whole number from 0 to {MAX_EPOCHS}, not {self.transductive_epochs}")
        if not 0 < self.transductive_lr_scale <= 10:
            raise ConfigError(f"transductive_lr_scale: must be above 0 and at most 10, not {self.transductive_lr_scale}")
        if self.transductive and self.cv != "loao":
            raise ConfigError("transductive: only with cv = 'loao' (it needs a held-out animal)")
        if self.transductive_labels not in TRANSDUCTIVE_LABELS:
            raise ConfigError(f"transductive_labels: must be one of {', '.join(TRANSDUCTIVE_LABELS)}, "
                              f"not '{self.transductive_labels}'")
        if self.transductive and self.transductive_labels != "teachers" \
                and teaching_mode(self.kd.teaching, self.augmentation().active) == "consistent":
            raise ConfigError(f"transductive_labels: '{self.transductive_labels}' needs cached soft labels "
                              f"(kd.teaching = 'cached' or 'crossfit'; '{self.kd.teaching}' teaches consistently here)")
        if self.transductive_windows not in TRANSDUCTIVE_WINDOWS:
            raise ConfigError(f"transductive_windows: must be one of {', '.join(TRANSDUCTIVE_WINDOWS)}, "
                              f"not '{self.transductive_windows}'")
        if self.transductive and self.transductive_windows == "unlabelled" and not self.transductive_epochs:
            raise ConfigError("transductive_windows: 'unlabelled' fine-tunes the strict student and needs "
                              "transductive_epochs > 0 (a fresh student cannot learn from one animal's windows alone)")
        self._validate_transductive_teachers()
        self._validate_transfer_teachers()
        if self.extra_seeds and self.cv != "loao":
            raise ConfigError("extra_seeds: only with cv = 'loao' (they repeat the cross-validation)")
        if self.cv == "none" and not self.final_models:
            raise ConfigError("final_models: cannot be false with cv = 'none' (nothing would be trained)")

    def _validate_transductive_teachers(self) -> None:
        """What can be said without the teachers' names (resolve_method parses them)."""
        t = self.transductive_teachers
        self._check_teacher_names("transductive_teachers", t, "['turned_forest']")
        if not t or not self.transductive:  # not used without --transductive (a recipe may set it)
            return
        if self.transductive_labels == "student":
            raise ConfigError("transductive_teachers: not used with transductive_labels 'student' (the strict student "
                              "labels alone); give 'teachers' or 'with_student'")
        self._check_cached_soft_labels("transductive_teachers")

    def _validate_transfer_teachers(self) -> None:
        """What can be said without the teachers' names (resolve_method parses them)."""
        t = self.kd.transfer_teachers
        self._check_teacher_names("kd.transfer_teachers", t, "['resnet', 'forest', 'gru']")
        if not t:
            return
        if self.kd.transfer == "none":
            raise ConfigError("kd.transfer_teachers: they label the transfer set, and kd.transfer is 'none'")
        self._check_cached_soft_labels("kd.transfer_teachers")

    @staticmethod
    def _check_epoch_count(setting: str, v, zero_means: str) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_EPOCHS:
            raise ConfigError(f"{setting}: a whole number of epochs from 0 ({zero_means}) to {MAX_EPOCHS:,}, not {v}")

    @staticmethod
    def _check_teacher_names(setting: str, names, example: str) -> None:
        if not isinstance(names, list) or not all(isinstance(v, str) and v.strip() for v in names):
            raise ConfigError(f"{setting}: a list of teacher names such as {example}, not {names!r}")

    def _check_cached_soft_labels(self, setting: str) -> None:
        """Teachers that label some windows in place of the method's do it in soft labels computed once."""
        if teaching_mode(self.kd.teaching, self.augmentation().active) == "consistent":
            raise ConfigError(f"{setting}: they give soft labels computed once (kd.teaching = 'cached' or "
                              f"'crossfit'; '{self.kd.teaching}' teaches consistently here)")

    def _validate_method(self) -> None:
        m = self.method
        if m.weight_bits not in WEIGHT_BITS:
            raise ConfigError(f"method.weight_bits: must be one of {', '.join(map(str, WEIGHT_BITS))}, not {m.weight_bits}")
        for layer, bits in m.layer_weight_bits.items():
            if layer not in LAYERS:
                raise ConfigError(f"method.layer_weight_bits: '{layer}' is not a layer of the student ({', '.join(LAYERS)})")
            if isinstance(bits, bool) or bits not in WEIGHT_BITS:
                raise ConfigError(f"method.layer_weight_bits.{layer}: must be one of {', '.join(map(str, WEIGHT_BITS))}, not {bits!r}")
        if m.calibration not in CALIBRATIONS:
            raise ConfigError(f"method.calibration: must be one of {', '.join(CALIBRATIONS)}, not '{m.calibration}'")
        if m.weight_formats not in WEIGHT_FORMATS:
            raise ConfigError(f"method.weight_formats: must be one of {', '.join(WEIGHT_FORMATS)}, not '{m.weight_formats}'")
        if m.rounding not in ROUNDINGS:
            raise ConfigError(f"method.rounding: must be one of {', '.join(ROUNDINGS)}, not '{m.rounding}'")


def merge_settings(obj: Any, values: dict[str, Any], prefix: str) -> None:
    """Set the fields of dataclass `obj` from `values` (nested sections recurse), each checked
    against its annotation; an unknown key is an error that names it (prefix + key)."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(obj, MethodConfig) and key not in fields:
            obj.options[key] = value  # the method's own setting: resolved by collar_kd.methods
            continue
        if key not in fields:
            raise ConfigError(f"{name}: unknown setting (known: {', '.join(fields)})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: must be a section/table")
            merge_settings(current, value, f"{name}.")
            continue
        setattr(obj, key, _coerce(value, current, fields[key].type, name))


def _coerce(value: Any, current: Any, annotation: Any, name: str) -> Any:
    text = str(annotation)
    if value is None:
        if "None" in text:
            return None
        raise ConfigError(f"{name}: may not be null")
    if text.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: must be a section/table")
        return dict(value)
    if text.startswith("list"):
        if not isinstance(value, list):
            raise ConfigError(f"{name}: must be a list")
        return list(value)
    if "bool" in text:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: must be true or false")
        return value
    if "float" in text:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: must be a number, not {value!r}")
        if not math.isfinite(value):  # NaN passes every range comparison: refuse it here, for every setting
            raise ConfigError(f"{name}: must be a finite number, not {value}")
        return float(value)
    if "int" in text:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: must be a whole number, not {value!r}")
        return value
    if "str" in text:
        return str(value)
    return value


def _read_settings_file(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        doc = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot parse {what}: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the {what} must be a table/object")
    return doc


def recipe_path(name: str) -> Path:
    """A shipped recipe by name (data/recipes/NAME.toml) or a TOML/JSON path."""
    from collar_kd.paths import RECIPES_DIR

    shipped = RECIPES_DIR / f"{name}.toml"
    if shipped.is_file():
        return shipped
    if Path(name).suffix in (".toml", ".json"):
        return Path(name)
    known = sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))
    raise ConfigError(f"recipe: '{name}' is neither a shipped recipe ({', '.join(['auto', 'none', *known])}) nor a "
                      ".toml/.json path")


def chosen_recipe(name: str, data_format: str) -> str:
    """'auto' -> 'collar' for real data, 'none' for the synthetic demo; other names as given."""
    if name == "auto":
        return "none" if data_format == "synthetic" else "collar"
    return name


def _teaches_consistently(cfg: TrainConfig) -> bool:
    """kd.teaching resolves to consistent; False for values validate() reports itself."""
    try:
        return teaching_mode(cfg.kd.teaching, cfg.augmentation().active) == "consistent"
    except (ConfigError, TypeError, ValueError):
        return False


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults <- recipe <- config file <- overrides (dotted keys such as 'kd.alpha'; None values
    ignored). The recipe (TrainConfig.recipe) depends on the data's format, so it is chosen once
    the file and the overrides have said what the data are."""
    doc = _read_settings_file(Path(path), "config file") if path is not None else {}
    nested: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    probe = TrainConfig()
    for source, prefix in ((doc, f"{path}: " if path is not None else ""), (nested, "")):
        try:
            merge_settings(probe, {k: source[k] for k in ("recipe", "data") if k in source}, "")
        except ConfigError as e:
            raise ConfigError(f"{prefix}{e}") from None
    cfg = TrainConfig()
    recipe = chosen_recipe(probe.recipe, probe.data.format)
    if recipe != "none":
        rpath = recipe_path(recipe)
        try:
            merge_settings(cfg, _read_settings_file(rpath, "recipe"), "")
        except ConfigError as e:
            raise ConfigError(f"recipe '{recipe}' ({rpath}): {e}") from None
    recipe_method = cfg.method.name
    if path is not None:
        try:
            merge_settings(cfg, doc, "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    merge_settings(cfg, nested, "")
    # One rotation limit for every axis, or one per axis: whichever the user gives replaces the
    # recipe's choice of the other (else a recipe's 90 degrees would refuse --augment-rotation-axes).
    given = {k for k in ("augment_rotation_deg", "augment_rotation_axes_deg") if k in doc or k in nested}
    if given == {"augment_rotation_deg"}:
        cfg.augment_rotation_axes_deg = []
    elif given == {"augment_rotation_axes_deg"}:
        cfg.augment_rotation_deg = 0.0

    def users(section: str) -> dict:  # what the config file and the overrides gave in a section
        return {**doc.get(section, {}), **nested.get(section, {})}

    if cfg.method.name != recipe_method:  # another method chosen: the recipe's method settings are not its
        own = users("method")
        cfg.method.options = {k: v for k, v in cfg.method.options.items() if k in own}
    if "transfer_teachers" not in users("kd") and (
            cfg.method.name != recipe_method or cfg.kd.transfer == "none" or _teaches_consistently(cfg)):
        # The recipe's transfer teachers label its cached transfer set for its method: a user who
        # changes either gets the method's own teachers, not an error about a setting never given.
        cfg.kd.transfer_teachers = []
    cfg.recipe = recipe  # what was applied, for config.json and the report
    cfg.validate()
    return cfg


def config_from_dict(doc: dict[str, Any]) -> TrainConfig:
    cfg = TrainConfig()
    merge_settings(cfg, doc, "")
    return cfg
