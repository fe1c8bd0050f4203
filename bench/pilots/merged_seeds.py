"""Several bench-accuracy results of the same recipe, merged over their seeds: is distillation's
gain over the student without KD signal or noise, and is the distilled student steadier?

    python bench/accuracy.py --name seeds567 --seeds 5,6,7          # more seeds (bench/work)
    python bench/pilots/merged_seeds.py eight-seeds accuracy.json accuracy-seeds34.json accuracy-seeds567.json
                                                                     # -> bench/results/pilots/eight-seeds.json

The files (under bench/results) must hold the same windows and folds and other seeds, and be
trained with the same settings but for the seed and the settings of a row that came later:
- the baseline row (and the distilled student averaged with it) depends on `baseline_forest` and
  `turned_forest_copies`: it is merged over the files whose values match the first file's only;
- the transductive row depends on `transductive_*`: likewise.
A setting an older file does not record is read as the value its code had (ABSENT_MEANS). Any
other difference stops the script. Each row says which seeds it covers.

Statistics are bench-accuracy's own (collar_kd/evaluation/statistics.py): pooled MCC per seed,
and paired differences with a 95% bootstrap interval over animals, over the seeds both rows share.
Steadiness, which pooled means hide: per cow, the spread over seeds of its fold MCC, the distilled
student against the student without KD paired as `collar-kd train --extra-seed` pairs it
(paired_steadiness: seeds and animals resampled); and "falls", a seed's fold MCC more than FALL below the median of the same
model on the same cow over seeds. And for distilled minus no KD, how much of the interval's width
is seed noise, which more seeds remove, and how much the gain's own differences between cows
(seeds_against_cows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, machine, result_confusions as confusions, write_result  # noqa: E402

from collar_kd.evaluation.report import LABELS  # noqa: E402
from collar_kd.evaluation.statistics import (describe_difference, describe_steadiness, fold_mcc_over_seeds,  # noqa: E402
                                             paired_difference, paired_steadiness, pooled_mcc_per_seed,
                                             seed_spread_per_animal, summarize_seeds)
from collar_kd.pipeline.train_run import KEY_PAIRS, TRANSDUCTIVE  # noqa: E402

PAIRS = (*KEY_PAIRS, ("student_kd_fxp8", "student_kd"))
# Settings added after a file was written, read as what its code did then.
ABSENT_MEANS = {"baseline_forest": "forest", "rf_turned_copies": 0, "transductive_teachers": [],
                "transductive_windows": "all", "kd.teacher_views": 0, "turned_forest_copies": 4, "kd.start": "fresh",
                "kd.start_epochs": 0, "kd.crossfit_teachers": [], "kd.epochs": 0, "kd.transfer_teachers": [],
                "kd.qat_epochs": 0}
# Settings that only some rows depend on: a row merges over the files that agree on them.
ROW_SETTINGS = {"baseline_rf": ("baseline_forest", "turned_forest_copies"),
                "student_kd+baseline_rf": ("baseline_forest", "turned_forest_copies"),
                TRANSDUCTIVE: ("transductive_epochs", "transductive_labels", "transductive_teachers",
                               "transductive_lr_scale", "transductive_windows")}
IGNORED = ("seed", "data.path")  # the seed is what differs; the data's path is where the machine keeps it
FALL = 0.10


def flat(settings: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in settings.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read(name: str) -> dict:
    doc = json.loads((RESULTS / name).read_text())
    settings = {**ABSENT_MEANS, **flat(doc["settings"])}
    return {"name": name, "doc": doc, "settings": {k: v for k, v in settings.items() if k not in IGNORED}}


def check_comparable(files: list[dict]) -> None:
    first = files[0]
    row_keys = {k for keys in ROW_SETTINGS.values() for k in keys}
    seen = set()
    for f in files:
        if [p["animal"] for p in f["doc"]["per_fold"]] != [p["animal"] for p in first["doc"]["per_fold"]] \
                or f["doc"]["windows"] != first["doc"]["windows"]:
            sys.exit(f"merged_seeds: {f['name']} has other folds or windows than {first['name']}")
        differ = sorted(k for k in set(f["settings"]) | set(first["settings"])
                        if k not in row_keys and f["settings"].get(k) != first["settings"].get(k))
        if differ:
            sys.exit(f"merged_seeds: {f['name']} was trained with other settings than {first['name']}: {', '.join(differ)}")
        if seen & set(f["doc"]["seeds"]):
            sys.exit(f"merged_seeds: {f['name']} repeats seeds {sorted(seen & set(f['doc']['seeds']))}")
        seen |= set(f["doc"]["seeds"])


def merged_rows(files: list[dict]) -> tuple[dict, dict]:
    """Per model its (seeds, animals, K, K) over the files it can be merged from, and those seeds."""
    first = files[0]
    conf, seeds = {}, {}
    for model in first["doc"]["per_fold"][0]["confusion_by_seed"]:
        keys = ROW_SETTINGS.get(model, ())
        use = [f for f in files if model in f["doc"]["per_fold"][0]["confusion_by_seed"]
               and all(f["settings"].get(k) == first["settings"].get(k) for k in keys)]
        conf[model] = np.concatenate([confusions(f["doc"], model) for f in use])
        seeds[model] = [s for f in use for s in f["doc"]["seeds"]]
    return conf, seeds


def steadiness(conf: np.ndarray, animals: list[str]) -> dict:
    """How much a model's fold MCC moves from seed to seed, cow by cow."""
    fold, spread = fold_mcc_over_seeds(conf), seed_spread_per_animal(conf)
    falls = fold < np.median(fold, axis=0) - FALL
    return {"per_cow_sd": dict(zip(animals, np.round(spread, 4).tolist())),
            "mean_per_cow_sd": round(float(spread.mean()), 4),
            "falls": int(falls.sum()), "fold_results": int(falls.size),
            "falls_by_seed": falls.sum(axis=1).tolist(),
            "fold_mcc": {a: np.round(fold[:, i], 3).tolist() for i, a in enumerate(animals)}}


def seeds_against_cows(a: np.ndarray, b: np.ndarray, seeds_asked=(3, 8, 20, None)) -> dict:
    """Fold MCC differences a - b (confusions (seeds, animals, K, K)) split into seed noise (the
    variance over seeds on one cow) and how much the true gain differs from cow to cow (the variance
    of the cows' mean differences less the seed noise left in them: method of moments, floored at
    0). From the two, the half-width of a 95% interval over these animals for the mean per-cow
    difference with n seeds (normal approximation; None: infinitely many): the part more seeds
    cannot remove is the cows'."""
    diff = fold_mcc_over_seeds(a) - fold_mcc_over_seeds(b)
    n_seeds, n_animals = diff.shape
    seed_var = float(diff.var(axis=0, ddof=1).mean())
    cow_var = max(0.0, float(diff.mean(axis=0).var(ddof=1)) - seed_var / n_seeds)
    return {"mean_per_cow_difference": round(float(diff.mean()), 4), "seeds": n_seeds, "animals": n_animals,
            "seed_sd": round(seed_var ** 0.5, 4), "cow_sd": round(cow_var ** 0.5, 4),
            "half_width_95": {("infinite" if n is None else str(n)):
                              round(1.96 * ((cow_var + (0.0 if n is None else seed_var / n)) / n_animals) ** 0.5, 4)
                              for n in seeds_asked}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="the result: bench/results/pilots/NAME.json")
    ap.add_argument("results", nargs="+", help="bench-accuracy results under bench/results, the first the reference")
    args = ap.parse_args()
    files = [read(n) for n in args.results]
    check_comparable(files)
    animals = [f["animal"] for f in files[0]["doc"]["per_fold"]]
    conf, seeds = merged_rows(files)
    summary = {m: {**summarize_seeds(c), "seeds": seeds[m]} for m, c in conf.items()}
    pairs = {}
    for a, b in PAIRS:
        shared = [s for s in seeds[a] if s in seeds[b]]
        if len(shared) < 2:
            continue
        ca = conf[a][[seeds[a].index(s) for s in shared]]
        cb = conf[b][[seeds[b].index(s) for s in shared]]
        d = paired_difference(ca, cb)
        d["per_animal_difference"] = dict(zip(animals, (round(v, 4) for v in d["per_animal_difference"])))
        d["seeds"] = shared
        d["per_seed"] = np.round(pooled_mcc_per_seed(ca) - pooled_mcc_per_seed(cb), 4).tolist()
        pairs[f"{a} - {b}"] = d
    steady = {m: steadiness(conf[m], animals) for m in ("student", "student_kd", "teacher", "kd_teacher")}
    # students and teachers cover every file's seeds (only the baseline and transductive rows may not)
    steady_pair = paired_steadiness(conf["student_kd"], conf["student"])
    steady_pair["per_animal_difference"] = dict(zip(animals, (round(v, 4) for v in steady_pair["per_animal_difference"])))
    doc = {
        "how": "bench-accuracy results merged over their seeds (bench/pilots/merged_seeds.py): " + ", ".join(args.results)
               + ". Pooled MCC per seed; paired differences with 95% percentile bootstrap intervals over animals "
               "(10,000 resamples) over the seeds both rows share; steadiness per cow over seeds; a fall is a fold MCC "
               f"more than {FALL} below the same model's median on that cow",
        "files": {f["name"]: {"seeds": f["doc"]["seeds"], "machine": f["doc"].get("machine"),
                              "wall_time_s": f["doc"].get("wall_time_s")} for f in files},
        "animals": animals,
        "pooled_mcc": summary,
        "paired_differences": pairs,
        "in_words": [describe_difference(LABELS.get(a, a), LABELS.get(b, b), pairs[f"{a} - {b}"])
                     for a, b in PAIRS if f"{a} - {b}" in pairs],
        "steadiness": steady,
        "paired_steadiness": {"student_kd - student": steady_pair},
        "seeds_against_cows": {"student_kd - student": seeds_against_cows(conf["student_kd"], conf["student"])},
        "steadiness_in_words": describe_steadiness(LABELS["student_kd"], LABELS["student"], steady_pair),
        "machine": machine(),
    }
    path = write_result(f"pilots/{args.name}.json", doc)
    for m, v in summary.items():
        print(f"  {m:26s} {v['mean']:.4f} (sd {v['sd']:.4f}; seeds {v['seeds']}: {' / '.join(f'{x:.3f}' for x in v['per_seed'])})")
    for k, d in pairs.items():
        print(f"  {k:40s} {d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] "
              f"{d['animals_better']}/{d['animals_worse']} per seed {d['per_seed']}")
    for m, s in steady.items():
        print(f"  steadiness {m:12s} mean per-cow sd {s['mean_per_cow_sd']:.3f}, falls {s['falls']}/{s['fold_results']} "
              f"by seed {s['falls_by_seed']}")
    print(f"  {describe_steadiness(LABELS['student_kd'], LABELS['student'], steady_pair)}")
    print(f"  distilled minus no KD, seeds against cows: {doc['seeds_against_cows']['student_kd - student']}")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
