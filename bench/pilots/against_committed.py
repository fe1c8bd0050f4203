"""Pilot: a variant of bench-accuracy against the committed bench/results/accuracy.json, when the
reference runs themselves are not on this machine (bench/work is not committed).

    python bench/pilots/against_committed.py NAME [SEED,...]

The variant's per-fold figures come from its runs (bench/work/accuracy-NAME-seed-S) where they are
on this machine, else from its result file (bench/results/accuracy-NAME.json), which keeps the same
per-fold and pooled MCC.

NAME's runs (`python bench/accuracy.py --name NAME --seeds ... --set ...`) change one setting of the
distilled student. Training is deterministic, so every model the setting does not touch (teacher,
ResNet + forest, student without KD, forest) must come out exactly as committed: that is checked
first, per fold and seed. Then, for the distilled student and its transductive row: the pooled MCC
per seed of both, and the paired difference per animal (the variant's MCC on the animal minus the
committed one, mean over seeds) with a 95% bootstrap interval over animals of its mean. The
committed file keeps per-fold MCC, not confusion matrices, so this interval is of the mean
per-animal difference, not of the pooled MCC difference bench-accuracy reports.
Writes bench/results/pilots/NAME-vs-committed.json.
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import WORK  # noqa: E402
from collar_kd.evaluation.statistics import mcc_from_confusion  # noqa: E402

UNTOUCHED = ("teacher", "kd_teacher", "student", "baseline_rf")
CHANGED = ("student_kd", "student_kd_transductive")


def bootstrap_mean(values: np.ndarray, n_boot: int = 10000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(n_boot, len(values)))
    lo, hi = np.quantile(values[draws].mean(axis=1), [0.025, 0.975])
    return float(lo), float(hi)


def variant_figures(root: Path, name: str, seeds: list[int]) -> tuple[dict, dict]:
    """Per seed: {model: {animal: MCC}} and {model: pooled MCC} of the variant's runs, or of its result file."""
    runs = {s: WORK / f"accuracy-{name}-seed-{s}" / "metrics.json" for s in seeds}
    if all(p.is_file() for p in runs.values()):
        docs = {s: json.loads(p.read_text()) for s, p in runs.items()}
        models = UNTOUCHED + CHANGED
        fold_mcc = {s: {m: {f["animal"]: f[m]["mcc"] for f in docs[s]["folds"]} for m in models} for s in seeds}
        pooled = {s: {m: float(mcc_from_confusion(np.sum([f[m]["confusion"] for f in docs[s]["folds"]], axis=0)))
                      for m in models} for s in seeds}
        return fold_mcc, pooled
    doc = json.loads((root / "results" / f"accuracy-{name}.json").read_text())
    col = {s: doc["seeds"].index(s) for s in seeds}
    fold_mcc = {s: {m: {f["animal"]: f["mcc_by_seed"][m][col[s]] for f in doc["per_fold"]} for m in UNTOUCHED + CHANGED}
                for s in seeds}
    pooled = {s: {m: doc["pooled_mcc"][m]["per_seed"][col[s]] for m in UNTOUCHED + CHANGED} for s in seeds}
    return fold_mcc, pooled


def main() -> None:
    name = sys.argv[1]
    seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2").split(",")]
    root = Path(__file__).resolve().parents[1]
    committed = json.loads((root / "results" / "accuracy.json").read_text())
    col = {s: committed["seeds"].index(s) for s in seeds}
    ref = {f["animal"]: f["mcc_by_seed"] for f in committed["per_fold"]}
    fold_mcc, pooled_of = variant_figures(root, name, seeds)
    out = {"variant": name, "seeds": seeds, "reference": "bench/results/accuracy.json", "untouched_identical": {}, "models": {}}
    for m in UNTOUCHED:
        out["untouched_identical"][m] = all(
            abs(v - ref[a][m][col[s]]) < 1e-9 for s in seeds for a, v in fold_mcc[s][m].items())
    print("identical to the committed runs:", out["untouched_identical"])
    for m in CHANGED + ("student",):
        pooled = [pooled_of[s][m] for s in seeds]
        committed_pooled = [committed["pooled_mcc"][m]["per_seed"][col[s]] for s in seeds]
        animals = list(fold_mcc[seeds[0]][m])
        per_animal = np.array([np.mean([fold_mcc[s][m][a] - ref[a][m][col[s]] for s in seeds]) for a in animals])
        lo, hi = bootstrap_mean(per_animal)
        out["models"][m] = {"variant_pooled": [round(v, 4) for v in pooled], "committed_pooled": [round(v, 4) for v in committed_pooled],
                            "pooled_difference_mean": round(float(np.mean(np.subtract(pooled, committed_pooled))), 4),
                            "per_animal_difference_mean": round(float(per_animal.mean()), 4), "ci": [round(lo, 4), round(hi, 4)],
                            "animals_better": int((per_animal > 0).sum()), "animals_worse": int((per_animal < 0).sum()),
                            "per_animal": {a: round(float(v), 4) for a, v in zip(animals, per_animal)}}
        print(m, json.dumps(out["models"][m]))
    # within the variant's runs: its distilled student against its student without KD, per animal
    animals = list(fold_mcc[seeds[0]]["student_kd"])
    d = np.array([np.mean([fold_mcc[s]["student_kd"][a] - fold_mcc[s]["student"][a] for s in seeds]) for a in animals])
    lo, hi = bootstrap_mean(d)
    out["variant_student_kd_minus_student_per_animal"] = {"mean": round(float(d.mean()), 4), "ci": [round(lo, 4), round(hi, 4)],
                                                         "animals_better": int((d > 0).sum())}
    print("variant student_kd - student per animal:", out["variant_student_kd_minus_student_per_animal"])
    path = root / "results" / "pilots" / f"{name}-vs-committed.json"
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
