"""`collar-kd predict RUN_DIR --data PATH --out DIR`: a trained run on recordings without labels.

Stages: choose the classifier (a float model of the run, or the bit-exact simulator of an
export: exactly what the collar computes); read the recordings as whole segments (CSV in
chunks); resample each to the model's rate; slide windows over it (never across a gap);
classify in batches; smooth over time; write windows, bouts, daily budgets, two plots and a
short report into DIR, atomically. Labels in the data are read only with `--score`.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from collar_kd.config import DataConfig, config_from_dict
from collar_kd.data import load_recordings
from collar_kd.data.csv_reader import CsvLayout
from collar_kd.data.frame import heading, turn
from collar_kd.data.windows import parse_span
from collar_kd.errors import ConfigError, RunDirError
from collar_kd.evaluation.metrics import classification_metrics
from collar_kd.evaluation.predict import STUDENT_AND_FOREST, MeanOfModels
from collar_kd.field.budgets import ClassifiedSegment, budgets_table, bouts_table, windows_table
from collar_kd.field.plots import plot_budgets, plot_ethogram
from collar_kd.field.segments import UNLABELLED, Segment, segments_from_recordings, stream_csv_segments
from collar_kd.field.smoothing import Smoothing, TransitionModel, smooth
from collar_kd.quant.quantizer import QuantizedStudent
from collar_kd.runs import NEURAL_MODELS, atomic_directory, load_forest, load_model, read_json, write_json
from collar_kd.sim import FixedPointSimulator
from collar_kd.training.loop import predict_logits

MODELS = (*NEURAL_MODELS, "baseline_rf", STUDENT_AND_FOREST)


@dataclass
class PredictOptions:
    model: str = "student_kd"
    export_dir: Path | None = None  # run this export's fixed-point simulator instead of a float model
    stride: str | None = None  # default: the run's stride
    smoothing: Smoothing = field(default_factory=Smoothing)
    score: bool = False  # read the data's labels and report metrics
    chunk_rows: int = 50_000  # CSV rows read at a time (about 80 MB of working memory)
    batch_windows: int = 2048  # windows classified at a time
    seed: int | None = None  # synthetic data: the generator's seed (default: the run's seed + 1, new animals)

    def check(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"--model: one of {', '.join(MODELS)}, not '{self.model}'")
        self.smoothing.check()
        if not 2 <= self.chunk_rows <= 100_000_000:
            raise ConfigError(f"--chunk-rows: from 2 to 100000000, not {self.chunk_rows}")
        if not 1 <= self.batch_windows <= 1_000_000:
            raise ConfigError(f"--batch-windows: from 1 to 1000000, not {self.batch_windows}")


class Classifier:
    """Window batches (n, T, 3) in g -> class probabilities (n, K)."""

    def __init__(self, run_dir: Path, arch: dict, opts: PredictOptions):
        self.classes = list(arch["classes"])
        if opts.export_dir is not None:
            q = QuantizedStudent.load(Path(opts.export_dir) / "quantized_student.npz")
            if list(q.classes) != self.classes or q.window_length != arch["window_length"] or \
                    abs(q.sample_rate_hz - arch["sample_rate_hz"]) > 1e-9:
                raise RunDirError(f"{opts.export_dir}: this export was made from another run (classes, window or rate "
                                  f"differ from {run_dir})")
            self.sim, self.q = FixedPointSimulator(q), q
            self.description = (f"the bit-exact fixed-point simulator of the export {opts.export_dir} (model "
                                f"{q.model_id()}, {q.weight_bits}-bit weights): these are exactly the classes the device "
                                "computes")
        else:
            self.sim = None
            if opts.model == STUDENT_AND_FOREST:
                self.model = MeanOfModels([load_model(run_dir, "student_kd")[0], load_forest(run_dir)])
                self.description = ("the run's distilled student and its forest, their class probabilities averaged "
                                    "(a labeller for a computer, not the model a collar runs)")
            else:
                self.model = load_forest(run_dir) if opts.model == "baseline_rf" else load_model(run_dir, opts.model)[0]
                self.description = f"the run's float model '{opts.model}'"
            self.name = opts.model

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.sim is not None:
            logits = self.sim.run(self.q.quantize_input(x)).logits.astype(np.float64) * 2.0 ** -self.q.logit_frac
        elif self.name in ("baseline_rf", STUDENT_AND_FOREST):
            return self.model.predict_proba(x)
        else:
            logits = predict_logits(self.model, x).astype(np.float64)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def predict_run(run_dir: Path, data: DataConfig, out: Path, opts: PredictOptions, progress, force: bool = False) -> dict:
    run_dir = Path(run_dir)
    opts.check()
    arch = read_json(run_dir / "models" / "models.json")
    run_cfg = config_from_dict(read_json(run_dir / "config.json"))
    classes = tuple(arch["classes"])
    rate, length = float(arch["sample_rate_hz"]), int(arch["window_length"])
    stride = parse_span(opts.stride or run_cfg.data.stride, rate, "stride")
    if stride > length:
        raise ConfigError(f"--stride: at most the window ({length} samples), not {stride}: windows must tile the recording")
    classify = Classifier(run_dir, arch, opts)
    frame = arch.get("frame", "sensor")  # runs from before data.frame are in the sensor frame
    seed = run_cfg.seed + 1 if opts.seed is None else opts.seed
    headings = animal_headings(data, classes, opts, seed) if frame == "animal" else {}
    transitions = training_transitions(run_cfg, classes, length, stride) if opts.smoothing.kind == "hmm" else None
    started = time.time()
    done, notes, model_seconds = [], [], 0.0
    with atomic_directory(out, force=force, inputs={"run": run_dir, "data": data.path,
                                                   "export": opts.export_dir}) as tmp:
        with progress.task("classifying recordings (samples read)", total_samples(data)) as advance:
            for seg in model_segments(data, arch, opts, seed, headings, notes, on_read=advance):
                classified, seconds = classify_segment(seg, classify, length, stride, opts, transitions)
                model_seconds += seconds
                done.append(classified)
        if not done:
            raise ConfigError(f"{data.path}: no recordings found")
        if frame == "animal":
            notes.append("each animal's samples were turned about the sensor's z axis by its own heading, as in training "
                         "(" + ", ".join(f"{a} {np.degrees(np.arctan2(s, c)):+.0f}°" for a, (c, s) in headings.items())
                         + "): the heading of all its recordings, which a device's running heading reaches only after "
                         "its first hours on the animal")
        summary = write_outputs(tmp, done, list(classes), classify, opts, data, notes, transitions)
        n_windows = sum(len(s.window_starts) for s in done)
        summary["timing"] = {"wall_s": round(time.time() - started, 3), "classifier_s": round(model_seconds, 3),
                             "windows_per_s": round(n_windows / model_seconds, 1) if model_seconds > 0 else None,
                             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        write_json(tmp / "predict.json", summary)
    return summary


def total_samples(data: DataConfig) -> int | None:
    """For the progress bar: rows of a CSV input (a fast count of line ends), else unknown."""
    if data.format != "csv":
        return None
    from collar_kd.data.csv_reader import csv_files

    total = 0
    for f in csv_files(Path(data.path)):
        with open(f, "rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1
    return max(total, 0)


def read_segments(data: DataConfig, classes: tuple[str, ...], opts: PredictOptions, seed: int):
    """Whole recordings: CSV in chunks; other formats through their reader, bouts joined again.
    Labels are passed on only with --score."""
    if data.format == "csv":
        if data.csv_sample_rate is None:
            raise ConfigError("--csv-rate: the csv format needs the rate the data was recorded at (Hz)")
        layout = CsvLayout(sample_rate=data.csv_sample_rate, animal=data.animal_column, axes=tuple(data.axis_columns),
                           label=data.label_column, time=data.time_column, units=data.units, counts_per_g=data.counts_per_g)
        yield from stream_csv_segments(Path(data.path), layout, classes, opts.chunk_rows, use_labels=opts.score)
        return
    rec, _ = load_recordings(replace(data, sample_rate=None), seed=seed)
    yield from segments_from_recordings(rec, classes if opts.score else None)


def model_segments(data: DataConfig, arch: dict, opts: PredictOptions, seed: int, headings: dict, notes: list,
                   on_read=None):
    """The recordings as the run's models take them (predict and adapt): each animal turned by its
    heading when the models work in the animal's frame, resampled to the model's rate (said once in
    `notes`). `on_read(n)`: the samples of each recording as read."""
    rate, frame = float(arch["sample_rate_hz"]), arch.get("frame", "sensor")
    for seg in read_segments(data, tuple(arch["classes"]), opts, seed):
        if on_read is not None:
            on_read(len(seg))
        if frame == "animal":
            seg = replace(seg, samples=turn(seg.samples, *headings[seg.animal]))
        if abs(seg.rate - rate) > 1e-9 * rate and not any("resampled" in n for n in notes):
            notes.append(f"the recordings ({seg.rate:g} Hz) were resampled to the model's {rate:g} Hz")
        yield seg.resampled(rate)


def animal_headings(data: DataConfig, classes: tuple[str, ...], opts: PredictOptions, seed: int) -> dict:
    """animal -> (cos, sin) of its mean x-y over all its recordings (collar_kd/data/frame.py): a
    first pass over the data, holding only one running sum per animal."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for seg in read_segments(data, classes, replace(opts, score=False), seed):
        sums[seg.animal] = sums.get(seg.animal, np.zeros(3)) + seg.samples.astype(np.float64).sum(axis=0)
        counts[seg.animal] = counts.get(seg.animal, 0) + len(seg)
    return {a: heading(sums[a] / max(counts[a], 1)) for a in sums}


def classify_segment(seg: Segment, classify: Classifier, length: int, stride: int, opts: PredictOptions,
                     transitions) -> tuple[ClassifiedSegment, float]:
    starts = np.arange(0, len(seg) - length + 1, stride) if len(seg) >= length else np.zeros(0, dtype=np.int64)
    probs = np.zeros((len(starts), len(classify.classes)))
    seconds = 0.0
    for a in range(0, len(starts), opts.batch_windows):
        idx = starts[a:a + opts.batch_windows]
        x = np.stack([seg.samples[i:i + length] for i in idx])
        t0 = time.perf_counter()
        probs[a:a + len(idx)] = classify(x)
        seconds += time.perf_counter() - t0
    labels = None
    if seg.labels is not None:
        labels = np.array([window_label(seg.labels[i:i + length], len(classify.classes)) for i in starts], dtype=np.int64)
    return ClassifiedSegment(seg.animal, seg.clock, seg.start, seg.end, seg.start + starts / seg.rate, length / seg.rate,
                             stride / seg.rate, smooth(probs, opts.smoothing, transitions), probs.argmax(axis=1), probs,
                             labels), seconds


def window_label(labels: np.ndarray, n_classes: int) -> int:
    """The label most of a window's samples carry (UNLABELLED if none does)."""
    known = labels[labels >= 0]
    return int(np.bincount(known, minlength=n_classes).argmax()) if len(known) else UNLABELLED


def training_transitions(run_cfg, classes: tuple[str, ...], length: int, stride: int) -> TransitionModel:
    """Window-to-window transitions of the run's own labelled training data, at predict's stride."""
    rec, _ = load_recordings(run_cfg.data, seed=run_cfg.seed)
    sequences = []
    for seg in segments_from_recordings(rec, classes):
        starts = np.arange(0, max(len(seg) - length + 1, 0), stride)
        sequences.append(np.array([window_label(seg.labels[i:i + length], len(classes)) for i in starts], dtype=np.int64))
    return TransitionModel.estimate(sequences, len(classes))


def write_outputs(tmp: Path, done: list[ClassifiedSegment], classes: list[str], classify: Classifier,
                  opts: PredictOptions, data: DataConfig, notes: list[str], transitions) -> dict:
    windows = windows_table(done, classes, with_labels=opts.score)
    bouts = bouts_table(done, classes)
    budgets = budgets_table(done, classes)
    windows.to_csv(tmp / "windows.csv", index=False)
    bouts.to_csv(tmp / "bouts.csv", index=False)
    budgets.to_csv(tmp / "budgets.csv", index=False)
    plot_ethogram(done, classes, tmp / "ethogram.png", f"behaviour over time ({opts.smoothing.kind} smoothing)")
    plot_budgets(budgets, classes, tmp / "budgets.png", "daily time budgets")
    summary = {"data": data.path, "format": data.format, "classifier": classify.description,
               "smoothing": {"kind": opts.smoothing.kind, "windows": opts.smoothing.windows,
                             "transitions_counted": None if transitions is None else transitions.counted_transitions},
               "windows": len(windows), "segments": len(done), "animals": sorted({s.animal for s in done}),
               "notes": notes, "scores": scores(done, classes) if opts.score else None}
    write_report(tmp / "predict.md", summary, budgets, bouts, classes)
    return summary


def scores(done: list[ClassifiedSegment], classes: list[str]) -> dict:
    y = np.concatenate([s.labels for s in done if s.labels is not None] or [np.zeros(0, np.int64)])
    raw = np.concatenate([s.raw_classes for s in done if s.labels is not None] or [np.zeros(0, np.int64)])
    smoothed = np.concatenate([s.classes for s in done if s.labels is not None] or [np.zeros(0, np.int64)])
    keep = y >= 0
    if not keep.any():
        return {"note": "no window carries a label of the model's classes"}
    out = {"windows_scored": int(keep.sum())}
    for name, pred in (("unsmoothed", raw), ("smoothed", smoothed)):
        m = classification_metrics(y[keep], pred[keep], tuple(classes))
        out[name] = {k: m[k] for k in ("mcc", "accuracy", "macro_f1")}
    return out


def write_report(path: Path, summary: dict, budgets, bouts, classes: list[str]) -> None:
    lines = ["# collar-kd predictions", "",
             f"- Data: {summary['data']} ({summary['format']}); {summary['segments']} continuous recordings of "
             f"{len(summary['animals'])} animal(s), {summary['windows']} windows.",
             f"- Classifier: {summary['classifier']}.",
             f"- Smoothing: {summary['smoothing']['kind']}"
             + (f" over {summary['smoothing']['windows']} windows" if summary['smoothing']['kind'] == "majority" else "")
             + (f" (transitions counted from {summary['smoothing']['transitions_counted']} consecutive labelled "
                "training windows)" if summary['smoothing']['kind'] == "hmm" else "") + "."]
    lines += [f"- Note: {n}." for n in summary["notes"]]
    lines += ["", "Minutes per behaviour (all days, recorded time):", ""]
    for c in classes:
        lines.append(f"- {c}: {budgets[f'minutes_{c}'].sum():.1f} min in "
                     f"{int((bouts['behaviour'] == c).sum())} bouts")
    lines.append(f"- unclassified (recordings shorter than a window, tails): {budgets['minutes_unclassified'].sum():.1f} min")
    if summary["scores"]:
        s = summary["scores"]
        lines += ["", "Against the labels in the data (`--score`):", ""]
        if "note" in s:
            lines.append(f"- {s['note']}")
        else:
            for name in ("unsmoothed", "smoothed"):
                m = s[name]
                mcc = "n/a" if m["mcc"] is None else f"{m['mcc']:.3f}"
                lines.append(f"- {name}: MCC {mcc}, accuracy {m['accuracy']:.3f} over {s['windows_scored']} windows")
    lines += ["", "Files: windows.csv (per window: times, class, probabilities), bouts.csv, budgets.csv "
              "(minutes per animal and day), ethogram.png, budgets.png, predict.json.", ""]
    path.write_text("\n".join(lines))
