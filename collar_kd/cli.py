"""The `collar-kd` command line. Bad input or usage exits with status 2 and a message naming
the file, row, column or setting at fault; an internal error (a bug) exits 1 and says so. No
traceback reaches the user: `Boundary` is the one place exceptions become exit statuses."""

from __future__ import annotations

import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup, _click

from collar_kd.errors import CollarKDError, ConfigError

EXIT_INPUT, EXIT_BUG, EXIT_TERMINATED = 2, 1, 143


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every `atomic_directory` cleans up as it does
    for Ctrl-C (a BaseException: no `except Exception` swallows it)."""


def _on_sigterm(signum, frame):
    raise Terminated()


class Boundary(TyperGroup):
    """Every subcommand runs inside this: the package's own errors (bad data, settings, run or
    export directories) and the operating system's (permissions, a full disk, a path that is a
    file) exit 2 with their message; anything else is a bug: exit 1, one line, and the
    traceback written to a file for the report."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, _click.ClickException):  # typer's own: exit codes, usage errors, --help
            raise
        except KeyboardInterrupt as e:  # here, not in main(): click would end it silently with 130
            typer.echo(f"collar-kd: interrupted; nothing was left half-written{_notes(e)}", err=True)
            raise typer.Exit(130) from None
        except CollarKDError as e:
            _fail(e)
        except OSError as e:
            where = e.filename if e.filename is not None else "collar-kd"
            _fail(f"{where}: {e.strerror or e}{_notes(e)}")
        except MemoryError as e:
            _fail(f"not enough memory for this data and these settings (fewer windows, a smaller model, or more RAM){_notes(e)}")
        except Exception as e:  # noqa: BLE001 - the boundary: whatever is left is a bug
            with tempfile.NamedTemporaryFile("w", prefix="collar-kd-crash-", suffix=".txt", delete=False) as f:
                f.write(" ".join(sys.argv) + "\n\n" + traceback.format_exc())
            typer.echo(f"collar-kd: internal error (a bug in collar-kd, not in your input): {type(e).__name__}: {e}\n"
                       f"  the traceback is in {f.name}; please report it with the command you ran{_notes(e)}", err=True)
            raise typer.Exit(EXIT_BUG) from None


app = typer.Typer(cls=Boundary, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Distilled, fixed-point behaviour classifiers for livestock collar and ear-tag MCUs.")


def _notes(e: BaseException) -> str:
    """What the code added to an error on its way out (where a stopped run kept its work), one line each."""
    return "".join(f"\ncollar-kd: {note}" for note in getattr(e, "__notes__", ()))


def _fail(e: Exception | str) -> None:
    typer.echo(f"collar-kd: error: {e}" + ("" if isinstance(e, str) else _notes(e)), err=True)
    raise typer.Exit(EXIT_INPUT)


def _echo_metrics(metrics: dict, f1: bool = False) -> None:
    """One line per model present in a metrics document: MCC, accuracy (and macro-F1)."""
    from collar_kd.runs import MODEL_NAMES

    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"

    for m in (*MODEL_NAMES, "kd_teacher", "student_kd+baseline_rf", "student_kd_transductive"):
        if m in metrics:
            mm = metrics[m]
            extra = f"  macro-F1 {fmt(mm['macro_f1'])}" if f1 else ""
            typer.echo(f"  {m:22s} MCC {fmt(mm['mcc'])}  accuracy {fmt(mm['accuracy'])}{extra}")


def _echo_seeds(metrics: dict) -> None:
    if "seeds" in metrics:
        st = metrics["seeds"]
        typer.echo(f"over seeds {', '.join(map(str, st['seeds']))}: pooled MCC mean (sd)")
        for m, v in st["pooled_mcc"].items():
            typer.echo(f"  {m:22s} {v['mean']:.3f} ({v['sd']:.3f})")
        for sentence in st["in_words"]:
            typer.echo(f"  {sentence}")


def _read_warnings(run_dir: Path) -> list[str]:
    from collar_kd.runs import read_json

    return read_json(run_dir / "manifest.json").get("warnings", [])


def _progress(quiet: bool):
    from collar_kd.progress import Quiet, RichBars

    return Quiet() if quiet else RichBars()


def _data_format(data: str | None, fmt: str | None) -> str | None:
    """The format --data and --format say (None: neither says one): --format, else synthetic for
    --data synthetic and csv for any other --data."""
    if fmt is not None or data is None:
        return fmt
    return "synthetic" if data == "synthetic" else "csv"


def _data_config(data, fmt, class_map, window, stride, csv_rate, units, counts_per_g, base=None, layout=None):
    """Command-line data options over a config's [data] section (or the defaults)."""
    from collar_kd.config import DataConfig

    cfg = base or DataConfig()
    if data is not None:
        cfg.path = data
    if (implied := _data_format(data, fmt)) is not None:
        cfg.format = implied
    for key, value in (("class_map", class_map), ("window", window), ("stride", stride), ("layout", layout),
                       ("csv_sample_rate", csv_rate), ("units", units), ("counts_per_g", counts_per_g)):
        if value is not None:
            setattr(cfg, key, value)
    return cfg


def _angles(text: str | None) -> list[float] | None:
    """'15,15,180' -> [15.0, 15.0, 180.0] (checked further by the config)."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"--augment-rotation-axes: 'X,Y,Z' in degrees, such as '15,15,180', not '{text}'") from None


def _teacher_names(text: str | None) -> list[str] | None:
    """'resnet,forest' -> ['resnet', 'forest']; '' -> [] (no teachers named: the default's own,
    whatever a recipe names)."""
    if text is None:
        return None
    return [t.strip() for t in text.split(",")] if text.strip() else []


def _layer_bits(values: list[str] | None) -> dict[str, int] | None:
    """['ih=16', 'hh=16'] -> {'ih': 16, 'hh': 16}; the layers and widths are checked where they are
    used (config, export)."""
    if not values:
        return None
    out = {}
    for v in values:
        layer, sep, bits = v.partition("=")
        if not sep or not layer.strip() or not bits.strip().lstrip("-").isdigit():
            raise ConfigError(f"--layer-weight-bits: expected LAYER=BITS such as ih=16, not '{v}'")
        out[layer.strip()] = int(bits)
    return out


@app.command()
def train(
    data: Optional[str] = typer.Option(None, help="Data file or directory, or 'synthetic' (the default: built-in generator)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv | wasp | bouts | synthetic (default: synthetic for --data synthetic, else csv)."),
    layout: Optional[str] = typer.Option(None, help="bouts format: a per-bout folder layout, shipped (wasp_cow_walking, "
                                                    "wasp_cow_mounts) or a layout JSON path (docs/data-formats.md)."),
    out: Path = typer.Option(..., help="Run directory to create."),
    cv: Optional[str] = typer.Option(None, help="loao (leave-one-animal-out) or none."),
    config: Optional[Path] = typer.Option(None, help="TOML or JSON config file (sections data, teacher, student, kd)."),
    class_map: Optional[str] = typer.Option(None, help="Class map: shipped name (wasp_default, wasp_four_class) or JSON path."),
    window: Optional[str] = typer.Option(None, help="Window length, '5s' or samples ('50')."),
    stride: Optional[str] = typer.Option(None, help="Window stride, seconds ('2.5s') or samples."),
    sample_rate: Optional[float] = typer.Option(None, help="Resample to this model rate (Hz)."),
    frame: Optional[str] = typer.Option(None, help="sensor (the windows as recorded) | animal (each animal's samples turned "
                                        "about z so its mean x-y points along +x: its collar's heading, no labels used)."),
    csv_rate: Optional[float] = typer.Option(None, help="csv format: the rate the data was recorded at (Hz)."),
    units: Optional[str] = typer.Option(None, help="csv format: g | m/s2 | counts."),
    counts_per_g: Optional[float] = typer.Option(None, help="csv format with units=counts: counts per g."),
    hidden: Optional[int] = typer.Option(None, help="Student GRU hidden size."),
    head: Optional[int] = typer.Option(None, help="Student MLP head size."),
    teacher_epochs: Optional[int] = typer.Option(None),
    teacher_selection: Optional[str] = typer.Option(None, help="none | checkpoint | epoch: the teacher's epoch chosen on "
                                                    "teacher.validation_animals training animals (never the held-out one)."),
    teacher_mixup: Optional[float] = typer.Option(None, help="Mixup for the teacher: Beta(a, a) parameter a (0: off)."),
    kd_mixup: Optional[float] = typer.Option(None, help="Mixup for the distilled student: Beta(a, a) parameter a (0: off)."),
    kd_transfer: Optional[str] = typer.Option(None, help="none | mixup: a transfer set of windows mixed across animals, "
                                              "labelled by the teachers, learnt through the soft term only."),
    kd_transfer_size: Optional[float] = typer.Option(None, help="The transfer set's size, a multiple of the training windows."),
    kd_transfer_teachers: Optional[str] = typer.Option(None, help="Which teachers label the transfer set, comma-separated "
                                                       "(e.g. resnet,forest,gru; \"\": the method's own)."),
    kd_epochs: Optional[int] = typer.Option(None, help="The distilled student's epochs from fresh weights (kd, ensemble; "
                                            "0: the student's)."),
    kd_qat_epochs: Optional[int] = typer.Option(None, help="The distilled student's last epochs through the fake-quantized "
                                                "8-bit graph, towards its own float soft labels (kd, ensemble; 0: off)."),
    kd_start: Optional[str] = typer.Option(None, help="fresh | no_kd_student: the distilled student starts from fresh "
                                           "weights or from the student without KD."),
    kd_start_epochs: Optional[int] = typer.Option(None, help="With --kd-start no_kd_student: its epochs (0: the student's)."),
    kd_teacher_views: Optional[int] = typer.Option(None, help="The teachers also label this many copies of each window "
                                                   "turned by the run's rotations, probabilities averaged (0: off)."),
    rf_turned_copies: Optional[int] = typer.Option(None, help="The forest (baseline and teacher) also learns from this "
                                                   "many copies of each training window turned by the run's rotations."),
    baseline_forest: Optional[str] = typer.Option(None, help="forest | turned_forest: the forest of the baseline row "
                                                  "(turned_forest: trained on turned_forest_copies turned copies too)."),
    student_epochs: Optional[int] = typer.Option(None),
    alpha: Optional[float] = typer.Option(None, help="KD: weight of the soft-label term (0..1)."),
    temperature: Optional[float] = typer.Option(None, help="KD: softmax temperature T."),
    augment_rotation: Optional[float] = typer.Option(None, help="Rotate training windows at random by up to this many degrees per axis."),
    augment_rotation_axes: Optional[str] = typer.Option(None, help="Or a limit per sensor axis, 'X,Y,Z' degrees (collar "
                                                        "physics: '15,15,180' turns the box freely about z, tilts it a little)."),
    augment_scale: Optional[float] = typer.Option(None, help="Scale training windows' amplitude by 1 + U(-s, s)."),
    augment_noise: Optional[float] = typer.Option(None, help="Add Gaussian sensor noise of this standard deviation (g) to training windows."),
    augment_shift: Optional[int] = typer.Option(None, help="Shift training windows in time by up to this many samples."),
    teaching: Optional[str] = typer.Option(None, help="KD targets: auto | cached | consistent (the teacher labels the augmented batch) | crossfit (each "
                                                   "training animal labelled by inner teachers that never saw it)."),
    unlabelled: Optional[str] = typer.Option(None, help="Recordings whose labels are absent or ignored: the distilled "
                                             "student also learns from them through the teacher's soft labels."),
    unlabelled_format: Optional[str] = typer.Option(None, help="Format of --unlabelled (default: that of --data)."),
    transductive: bool = typer.Option(False, "--transductive", help="Leave-one-animal-out: also distil a student on the held-out "
                                      "animal's windows without their labels (a separate row)."),
    transductive_labels: Optional[str] = typer.Option(None, help="Who labels the held-out windows for --transductive: "
                                                      "teachers | with_student (teachers and the strict student, half "
                                                      "each) | student (the strict student alone)."),
    transductive_teachers: Optional[str] = typer.Option(None, help="Which teachers label them, comma-separated "
                                                        "('turned_forest': the forest trained on turned windows too); "
                                                        "default: the distilled student's own."),
    transductive_windows: Optional[str] = typer.Option(None, help="What the transductive fine-tune trains on: "
                                                       "all (training windows, transfer set, held-out windows) | "
                                                       "unlabelled (the held-out windows alone)."),
    method: Optional[str] = typer.Option(None, help="How the distilled student is trained: a method of collar_kd/methods "
                                               "(none, kd, qat-kd, speq, ensemble, feed, data-free, ...); its own settings go "
                                               "in the config's [method] section (docs/methods.md)."),
    alpha_schedule: Optional[str] = typer.Option(None, help="KD: constant | linear | cosine (lowers alpha to kd.alpha_end)."),
    weight_bits: Optional[int] = typer.Option(None, help="qat-kd / speq: weight word length trained for (2..8 or 16)."),
    layer_weight_bits: Optional[list[str]] = typer.Option(None, "--layer-weight-bits", help="LAYER=BITS (repeatable): a layer "
                                                          "of its own word length, e.g. ih=16 (inp, ih, hh, fc1, fc2); trained "
                                                          "for by the finish and qat-kd, exported with by default."),
    rounding: Optional[str] = typer.Option(None, help="How the integer model's weights meet their grid: compensated (each "
                                           "rounding error made up by the weights and bias rounded after it; the "
                                           "default) | nearest."),
    seed: Optional[int] = typer.Option(None),
    extra_seed: Optional[list[int]] = typer.Option(None, "--extra-seed", help="Repeat the cross-validation with this training "
                                                   "seed too (repeatable): means, spread and paired differences with 95% intervals."),
    no_final: bool = typer.Option(False, "--no-final", help="Skip the final models on all animals (evaluation only)."),
    workers: int = typer.Option(1, help="Run the folds as this many Ray tasks at once on a local Ray instance started for "
                                "the run (pip install 'collar-kd[cluster]'); the results are the same as with 1."),
    ray_address: Optional[str] = typer.Option(None, help="Send the folds to this existing Ray cluster instead (RAY_ADDRESS "
                                              "is honoured too)."),
    recipe: Optional[str] = typer.Option(None, help="Shipped defaults for a kind of data, under --config and these options: "
                                         "auto (collar for real data, none for synthetic; the default) | collar | none | "
                                         "a TOML path (data/recipes/)."),
    device: Optional[str] = typer.Option(None, help="Where the networks train: auto (CUDA if PyTorch sees a GPU; the "
                                         "default) | cpu | cuda. Quantization and export always run on the CPU."),
    force: bool = typer.Option(False, help="Replace an existing run directory."),
    fresh: bool = typer.Option(False, "--fresh", help="Train every fold again: ignore the folds an interrupted run "
                               "of the same settings kept in OUT.unfinished (taken up by default)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or log lines."),
) -> None:
    """Train the ResNet teacher, the GRU students (without KD and distilled by --method) and the
    forest baseline; evaluate them leave-one-animal-out; save the final models."""
    from collar_kd.config import load_config
    from collar_kd.pipeline.train_run import run_training

    overrides = {
        "cv": cv, "seed": seed, "extra_seeds": extra_seed or None, "data.sample_rate": sample_rate, "data.frame": frame,
        "student.hidden": hidden, "student.head": head,
        "teacher.epochs": teacher_epochs, "student.epochs": student_epochs, "teacher.selection": teacher_selection,
        "teacher.mixup": teacher_mixup, "kd.mixup": kd_mixup, "kd.transfer": kd_transfer, "kd.transfer_size": kd_transfer_size,
        "kd.teacher_views": kd_teacher_views, "kd.epochs": kd_epochs, "kd.qat_epochs": kd_qat_epochs,
        "kd.transfer_teachers": _teacher_names(kd_transfer_teachers),
        "kd.start": kd_start, "kd.start_epochs": kd_start_epochs,
        "rf_turned_copies": rf_turned_copies, "baseline_forest": baseline_forest,
        "kd.alpha": alpha, "kd.temperature": temperature, "augment_rotation_deg": augment_rotation,
        "augment_scale": augment_scale, "augment_noise_g": augment_noise, "augment_shift": augment_shift,
        "augment_rotation_axes_deg": _angles(augment_rotation_axes), "kd.teaching": teaching, "transductive": True if transductive else None,
        "transductive_labels": transductive_labels,
        "transductive_teachers": _teacher_names(transductive_teachers), "transductive_windows": transductive_windows,
        "unlabelled.path": unlabelled, "unlabelled.format": unlabelled_format,
        "method.name": method, "kd.alpha_schedule": alpha_schedule, "method.weight_bits": weight_bits,
        "method.layer_weight_bits": _layer_bits(layer_weight_bits), "method.rounding": rounding,
        "final_models": False if no_final else None, "device": device, "recipe": recipe,
        # What the data are decides the recipe (real collars or the synthetic demo): known before loading.
        "data.path": data, "data.format": _data_format(data, fmt),
    }
    cfg = load_config(config, overrides)
    _data_config(data, fmt, class_map, window, stride, csv_rate, units, counts_per_g, base=cfg.data, layout=layout)
    cfg.validate()
    from collar_kd.pipeline.workers import Workers

    metrics = run_training(cfg, out, progress=_progress(quiet), force=force, workers=Workers(workers, ray_address).check(),
                           resume=not fresh)
    for w in _read_warnings(out):
        typer.echo(f"collar-kd: warning: {w}", err=True)
    if not quiet:
        typer.echo(f"wrote {out} ({metrics['evaluated_on']})")
        _echo_metrics(metrics)
        _echo_seeds(metrics)


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory from `collar-kd train`."),
    data: str = typer.Option(..., help="Data file or directory, or 'synthetic'."),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv | wasp | bouts | synthetic."),
    layout: Optional[str] = typer.Option(None, help="bouts format: a shipped layout name or a layout JSON path."),
    out: Path = typer.Option(..., help="Output directory."),
    class_map: Optional[str] = typer.Option(None),
    stride: Optional[str] = typer.Option(None, help="Window stride (the window length is the model's)."),
    csv_rate: Optional[float] = typer.Option(None),
    units: Optional[str] = typer.Option(None),
    counts_per_g: Optional[float] = typer.Option(None),
    seed: Optional[int] = typer.Option(None, help="Seed of synthetic data (default: the run's seed + 1, i.e. new animals)."),
    force: bool = typer.Option(False),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Run a trained run's final models on another dataset; write metrics.json and confusion matrices."""
    from collar_kd.pipeline.evaluate_run import evaluate_run

    cfg = _data_config(data, fmt, class_map, None, stride, csv_rate, units, counts_per_g, layout=layout)
    metrics = evaluate_run(run_dir, cfg, out, force=force, seed=seed)
    if not quiet:
        typer.echo(f"wrote {out}")
        _echo_metrics(metrics)


# How `predict` and `adapt` read recordings without labels (the same options, the same reader).
RECORDINGS_FORMAT = typer.Option(None, "--format", help="csv | wasp | bouts | synthetic.")
RECORDINGS_LAYOUT = typer.Option(None, help="bouts format: a shipped layout name or a layout JSON path.")
RECORDINGS_CSV_RATE = typer.Option(None, help="csv format: the rate the data was recorded at (Hz).")
RECORDINGS_UNITS = typer.Option(None, help="csv format: g | m/s2 | counts.")
RECORDINGS_COUNTS_PER_G = typer.Option(None, help="csv format with units=counts: counts per g.")


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory from `collar-kd train`."),
    data: str = typer.Option(..., help="Recordings (labels not needed): a file or directory, or 'synthetic'."),
    out: Path = typer.Option(..., help="Output directory to create."),
    fmt: Optional[str] = RECORDINGS_FORMAT,
    layout: Optional[str] = RECORDINGS_LAYOUT,
    csv_rate: Optional[float] = RECORDINGS_CSV_RATE,
    units: Optional[str] = RECORDINGS_UNITS,
    counts_per_g: Optional[float] = RECORDINGS_COUNTS_PER_G,
    model: str = typer.Option("student_kd", help="teacher | student | student_kd | baseline_rf (float models of the run), or "
                             "student_kd+baseline_rf (the two averaged: a computer's labeller)."),
    export: Optional[Path] = typer.Option(None, "--export", help="Run this export's bit-exact fixed-point simulator "
                                          "instead: exactly the classes the device computes."),
    stride: Optional[str] = typer.Option(None, help="Window stride, '2.5s' or samples (default: the run's)."),
    smoothing: str = typer.Option("none", help="none | majority | hmm (Viterbi with the run's training transitions)."),
    smoothing_windows: int = typer.Option(5, help="majority: the filter's length in windows (odd)."),
    score: bool = typer.Option(False, "--score", help="Also read the data's labels and report MCC and accuracy."),
    chunk_rows: int = typer.Option(50_000, help="CSV rows read at a time (bounds memory on long recordings)."),
    seed: Optional[int] = typer.Option(None, help="Seed of synthetic data (default: the run's seed + 1)."),
    device: str = typer.Option("auto", help="Where the float models compute: auto | cpu | cuda (the simulator of "
                               "--export always runs on the CPU)."),
    force: bool = typer.Option(False),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Classify recordings without labels: per-window classes and probabilities, bouts, daily
    time budgets per animal, an ethogram and budget plots."""
    from collar_kd.field.smoothing import Smoothing
    from collar_kd.pipeline.predict_run import PredictOptions, predict_run
    from collar_kd.training.device import use_device

    use_device(device)
    cfg = _data_config(data, fmt, None, None, None, csv_rate, units, counts_per_g, layout=layout)
    if cfg.format == "synthetic":
        from collar_kd.runs import read_json

        cfg.synthetic_settings = read_json(run_dir / "config.json").get("data", {}).get("synthetic_settings")
    opts = PredictOptions(model=model, export_dir=export, stride=stride, smoothing=Smoothing(smoothing, smoothing_windows),
                          score=score, chunk_rows=chunk_rows, seed=seed)
    summary = predict_run(run_dir, cfg, out, opts, _progress(quiet), force=force)
    if not quiet:
        typer.echo(f"wrote {out}: {summary['windows']} windows of {len(summary['animals'])} animal(s), classified by "
                   f"{summary['classifier']}")
        for note in summary["notes"]:
            typer.echo(f"note: {note}")
        if summary["scores"] and "smoothed" in summary["scores"]:
            for name in ("unsmoothed", "smoothed"):
                m = summary["scores"][name]
                typer.echo(f"  {name:10s} MCC {'n/a' if m['mcc'] is None else format(m['mcc'], '.3f')}  "
                           f"accuracy {m['accuracy']:.3f}")


@app.command()
def adapt(
    run_dir: Path = typer.Argument(..., help="A run directory from `collar-kd train` (with its final models)."),
    data: str = typer.Option(..., help="The new herd's recordings (labels not needed, never read): a file or "
                             "directory, or 'synthetic'."),
    out: Path = typer.Option(..., help="The adapted run directory to create: a copy of RUN_DIR whose distilled student "
                             "is adapted (export and predict take it as it is)."),
    fmt: Optional[str] = RECORDINGS_FORMAT,
    layout: Optional[str] = RECORDINGS_LAYOUT,
    csv_rate: Optional[float] = RECORDINGS_CSV_RATE,
    units: Optional[str] = RECORDINGS_UNITS,
    counts_per_g: Optional[float] = RECORDINGS_COUNTS_PER_G,
    labeller: str = typer.Option("forest+student", help="Who labels the herd's windows: forest+student (the run's "
                                 "forest and distilled student, half each: what bench-accuracy measures) | student | "
                                 "forest."),
    epochs: int = typer.Option(20, help="Fine-tuning epochs over the herd's windows."),
    lr_scale: float = typer.Option(1.0, help="Learning rate: this multiple of the run's [student] lr."),
    max_windows: int = typer.Option(20_000, help="At most this many windows, evenly spread over the recordings."),
    stride: Optional[str] = typer.Option(None, help="Window stride, '2.5s' or samples (default: the run's)."),
    chunk_rows: int = typer.Option(50_000, help="CSV rows read at a time."),
    seed: Optional[int] = typer.Option(None, help="Seed of synthetic data (default: the run's seed + 1, new animals)."),
    device: str = typer.Option("auto", help="Where the fine-tune computes: auto | cpu | cuda (bit for bit the "
                               "benchmark's transductive student on the CPU)."),
    force: bool = typer.Option(False, help="Replace an existing output directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Adapt a trained run's distilled student to a new herd from its unlabelled recordings: the
    run's forest and student label the herd's windows, the student is fine-tuned on them alone."""
    from collar_kd.pipeline.adapt_run import AdaptOptions, adapt_run
    from collar_kd.training.device import use_device

    use_device(device)
    cfg = _data_config(data, fmt, None, None, None, csv_rate, units, counts_per_g, layout=layout)
    opts = AdaptOptions(labeller=labeller, epochs=epochs, lr_scale=lr_scale, max_windows=max_windows, stride=stride,
                        chunk_rows=chunk_rows, seed=seed)
    s = adapt_run(run_dir, cfg, out, opts, _progress(quiet), force=force)
    if not quiet:
        typer.echo(f"wrote {out}: the distilled student of {run_dir} adapted to {s['windows']} windows of "
                   f"{len(s['windows_per_animal'])} animal(s), labelled by {s['labeller']}; it changed the class of "
                   f"{s['windows_changed_class']:.1%} of them")
        for note in s["notes"]:
            typer.echo(f"note: {note}")


@app.command()
def info(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Summarise a run: data, classes, models, pooled metrics."""
    from collar_kd.runs import read_json

    manifest = read_json(run_dir / "manifest.json")
    metrics = read_json(run_dir / "metrics.json")
    try:
        _echo_info(run_dir, manifest, metrics)
    except (KeyError, TypeError, ValueError) as e:
        _fail(f"{run_dir}: manifest.json or metrics.json lacks a field collar-kd wrote ({type(e).__name__}: {e}); "
              "the run directory was edited or is from another version")


def _echo_info(run_dir: Path, manifest: dict, metrics: dict) -> None:
    arch = manifest["models"]
    typer.echo(f"run: {run_dir}")
    typer.echo(f"created {manifest['created']} with collar-kd {manifest['collar_kd']}, torch {manifest['torch']}, seed {manifest['seed']}")
    typer.echo(f"data: {manifest['data_source']} (fingerprint {manifest['data_fingerprint'][:16]})")
    typer.echo(f"classes: {', '.join(manifest['classes'])}")
    w = metrics["window"]
    typer.echo(f"window: {w['length']} samples at {w['sample_rate_hz']:g} Hz, stride {w['stride']}; {metrics['data']['windows']} windows")
    for name in ("teacher", "student"):
        a = arch[name]
        if "params" in a:
            typer.echo(f"{name}: {a['params']:,} parameters, {a['mults_per_window']:,} multiplications per window")
    if "method" in metrics:  # runs made before methods existed have none
        typer.echo(f"distilled student (student_kd): method '{metrics['method']['name']}', {metrics['method']['description']}")
    if "adapted" in manifest:  # collar-kd adapt: the student is no longer the one the metrics below measured
        a = manifest["adapted"]
        typer.echo(f"adapted: its distilled student was fine-tuned on {a['windows']} unlabelled windows of {a['data']} "
                   f"(labeller {a['labeller']}); the metrics below are those of {a['adapted_from']} before adaptation")
    typer.echo(f"metrics ({metrics['evaluated_on']}):")
    _echo_metrics(metrics, f1=True)
    _echo_seeds(metrics)


@app.command("export")
def export_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory from `collar-kd train`."),
    target: str = typer.Option("eartag", help="Device profile: a name in data/devices (eartag, collar) or a profile's .json path."),
    out: Path = typer.Option(..., help="Export directory to create."),
    weight_bits: Optional[int] = typer.Option(None, help="Weight word length, 8 or 16 (default: what the run trained the student for)."),
    layer_weight_bits: Optional[list[str]] = typer.Option(None, "--layer-weight-bits", help="LAYER=BITS (repeatable): a layer in "
                                                          "8 or 16 bits of its own, e.g. ih=16 (default: what the run trained "
                                                          "for, method.layer_weight_bits)."),
    calibration: Optional[str] = typer.Option(None, help="How fractional lengths are chosen: range (max-based) or mse (least "
                                                          "quantization error); default: the run's method.calibration."),
    weight_formats: Optional[str] = typer.Option(None, help="row (every output row its own weight format and shift) or tensor "
                                                 "(one per layer); default: the run's method.weight_formats."),
    rounding: Optional[str] = typer.Option(None, help="compensated or nearest: how the weights meet their grid; default: "
                                           "the run's method.rounding."),
    qat_epochs: int = typer.Option(0, help="Quantization-aware fine-tuning epochs with the teacher's soft labels."),
    windows: int = typer.Option(1000, help="Golden windows (real, synthetic, adversarial)."),
    student: str = typer.Option("student_kd", help="Which student of the run: student_kd or student."),
    count_instructions: bool = typer.Option(False, help="Count exact instructions per window under QEMU (fetches QEMU's plugin header once)."),
    device_rate: Optional[float] = typer.Option(None, help="The device's sensor runs at this rate (Hz) instead of its "
                                                "profile's; must equal the model's rate (otherwise train with --sample-rate)."),
    allow_changed_data: bool = typer.Option(False, "--allow-changed-data", help="Export even though the run's training "
                                            "data changed since `train` (the formats are then calibrated on the new data)."),
    onnx: Optional[Path] = typer.Option(None, help="Also write the float teacher and student as ONNX into this directory, "
                                        "checked with onnxruntime against PyTorch on the run's windows (pip install "
                                        "'collar-kd[onnx]')."),
    force: bool = typer.Option(False, help="Replace an existing export directory."),
) -> None:
    """Quantize a run's student to dynamic fixed point and write integer-only C, golden vectors
    and a manifest for a device."""
    from collar_kd.export.exporter import ExportOptions
    from collar_kd.pipeline.export_run import export_run

    m = export_run(run_dir, out, ExportOptions(target=target, weight_bits=weight_bits, layer_weight_bits=_layer_bits(layer_weight_bits),
                                               calibration=calibration,
                                               weight_formats=weight_formats, rounding=rounding,
                                               qat_epochs=qat_epochs, windows=windows, student=student,
                                               count_instructions=count_instructions,
                                               allow_changed_data=allow_changed_data, device_rate_hz=device_rate,
                                               onnx_dir=onnx),
                   force=force)
    for note in m["precision_notes"]:
        typer.echo(f"note: {note}")
    fp = m["footprint"]
    wide = "".join(f", {k} {v}-bit" for k, v in m["layer_bits"].items() if v != m["weight_bits"])
    typer.echo(f"wrote {out}: model {m['model_id']} for {m['target']}, {m['weight_bits']}-bit weights{wide}, "
               f"flash {fp['flash_bytes']:,} B, RAM {fp['ram_bytes']:,} B ({fp['how'].split(':')[0]})")
    if m["instructions_per_window"]:
        typer.echo(f"  {m['instructions_per_window']['mean']:,.0f} instructions per window ({m['instructions_note']})")
    for name, o in (m.get("onnx") or {}).get("models", {}).items():
        typer.echo(f"  {onnx / o['file']}: ONNX opset {o['opset']}, logits within {o['max_abs_logit_difference']:.2g} of "
                   f"PyTorch on {o['windows_checked']:,} windows")


@app.command()
def verify(
    export_dir: Path = typer.Argument(..., help="An export directory from `collar-kd export`."),
    target: Optional[list[str]] = typer.Option(None, help="host, or a device profile (a name in data/devices or a .json "
                                                           "path), run under QEMU; default: host and every profile in data/devices."),
    build_dir: Optional[Path] = typer.Option(None, help="Where to build (default: EXPORT_DIR/build)."),
    no_dsp: bool = typer.Option(False, "--no-dsp", help="Build Cortex-M4 without the DSP path."),
) -> None:
    """Build the exported C for each target, run every golden window, compare bit for bit with
    the simulator; one PASS/FAIL line per target, exit status 1 on any FAIL."""
    from collar_kd.verify.runner import target_names, verify_target

    failed = False
    for t in target or target_names():
        v = verify_target(export_dir, t, build_dir or (export_dir / "build"), dsp=not no_dsp)
        typer.echo(f"{v.line()} [{v.seconds:.1f} s]")
        failed |= not v.passed
    if failed:
        raise typer.Exit(1)


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except KeyboardInterrupt as e:
        typer.echo(f"collar-kd: interrupted; nothing was left half-written{_notes(e)}", err=True)
        sys.exit(130)
    except Terminated as e:
        typer.echo(f"collar-kd: terminated (SIGTERM); nothing was left half-written{_notes(e)}", err=True)
        sys.exit(EXIT_TERMINATED)


if __name__ == "__main__":
    main()
