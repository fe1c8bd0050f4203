"""Pilot: a variant of bench-accuracy against the committed bench/results/accuracy.json, when the
reference runs themselves are not on this machine (bench/work is not committed).

    python bench/pilots/against_committed.py NAME [SEED,...] [--reference=accuracy-seeds567.json]
    python bench/pilots/against_committed.py qatfinish 3,4,5,6,7 --reference=accuracy-seeds34.json,accuracy-seeds567.json

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
When both result files keep confusion matrices (bench/results/accuracy-NAME.json and the
reference, runs since 2026-12-05), also the pooled paired differences bench-accuracy reports, for
the changed rows and the 8-bit one (`pooled_paired`). --reference: another committed result of the
same settings but the variant's (default accuracy.json); several, comma-separated, are merged by
seed (each seed from the file that holds it); a row whose settings differ between them (the
baseline forest's before 2026-12-05, see merged_seeds.py ROW_SETTINGS) is left out, and said so.
Writes bench/results/pilots/NAME-vs-committed.json (NAME-vs-REFERENCE.json with --reference,
the files' names joined by "+").
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import WORK, bootstrap_mean  # noqa: E402
from collar_kd.evaluation.statistics import mcc_from_confusion  # noqa: E402

UNTOUCHED = ("teacher", "kd_teacher", "student", "baseline_rf")
CHANGED = ("student_kd", "student_kd_transductive")


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


def pooled_paired(root: Path, name: str, committed: dict, seeds: list[int]) -> dict | None:
    """Pooled MCC differences (variant minus reference, mean over `seeds`) with the 95% bootstrap
    interval over animals that bench-accuracy uses, from the two result files' confusion matrices."""
    from collar_kd.evaluation.statistics import paired_difference

    path = root / "results" / f"accuracy-{name}.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if "confusion_by_seed" not in doc["per_fold"][0] or "confusion_by_seed" not in committed["per_fold"][0]:
        return None
    if [f["animal"] for f in doc["per_fold"]] != [f["animal"] for f in committed["per_fold"]]:
        raise SystemExit("the two results hold other animals")

    def conf(d: dict, model: str) -> np.ndarray:
        col = [d["seeds"].index(s) for s in seeds]
        return np.array([[f["confusion_by_seed"][model][c] for f in d["per_fold"]] for c in col])

    out = {}
    for m in CHANGED + ("student_kd_fxp8", "student_kd+baseline_rf"):
        if m in doc["per_fold"][0]["confusion_by_seed"] and m in committed["per_fold"][0]["confusion_by_seed"]:
            r = paired_difference(conf(doc, m), conf(committed, m))
            out[m] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "per_animal"}
    return out


def merged_reference(names: list[str]) -> dict:
    """Several committed results of the same folds as one: their seeds side by side, and per fold and
    per model (those every file holds, trained alike in all) the per-seed lists joined in that order."""
    from merged_seeds import ROW_SETTINGS, read

    files = [read(n) for n in names]
    docs = [f["doc"] for f in files]
    if len(docs) == 1:
        return docs[0]
    unlike = {row for row, keys in ROW_SETTINGS.items()
              if any(f["settings"].get(k) != files[0]["settings"].get(k) for f in files for k in keys)}
    if unlike:
        print("left out, trained otherwise in the references:", ", ".join(sorted(unlike)))
    seeds = [s for d in docs for s in d["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"the references repeat seeds: {seeds}")
    animals = [f["animal"] for f in docs[0]["per_fold"]]
    if any([f["animal"] for f in d["per_fold"]] != animals for d in docs):
        raise SystemExit("the references hold other animals")
    per_fold = []
    for i, animal in enumerate(animals):
        fold = {"animal": animal}
        for key in ("mcc_by_seed", "confusion_by_seed"):
            if all(key in d["per_fold"][i] for d in docs):
                models = set.intersection(*(set(d["per_fold"][i][key]) for d in docs)) - unlike
                fold[key] = {m: [v for d in docs for v in d["per_fold"][i][key][m]] for m in sorted(models)}
        per_fold.append(fold)
    models = set.intersection(*(set(d["pooled_mcc"]) for d in docs)) - unlike
    pooled = {m: {"per_seed": [v for d in docs for v in d["pooled_mcc"][m]["per_seed"]]} for m in sorted(models)}
    return {"seeds": seeds, "per_fold": per_fold, "pooled_mcc": pooled}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("seeds", nargs="?", default="0,1,2")
    ap.add_argument("--reference", default="accuracy.json",
                    help="result files in bench/results, comma-separated (merged by seed)")
    args = ap.parse_args()
    name, reference = args.name, args.reference
    seeds = [int(s) for s in args.seeds.split(",")]
    root = Path(__file__).resolve().parents[1]
    references = reference.split(",")
    committed = merged_reference(references)
    col = {s: committed["seeds"].index(s) for s in seeds}
    ref = {f["animal"]: f["mcc_by_seed"] for f in committed["per_fold"]}
    fold_mcc, pooled_of = variant_figures(root, name, seeds)
    out = {"variant": name, "seeds": seeds, "reference": [f"bench/results/{r}" for r in references], "untouched_identical": {}, "models": {}}
    for m in (m for m in UNTOUCHED if m in committed["pooled_mcc"]):
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
    out["pooled_paired"] = pooled_paired(root, name, committed, seeds)
    print("pooled, paired:", json.dumps(out["pooled_paired"]))
    tag = "committed" if references == ["accuracy.json"] else "+".join(Path(r).stem for r in references)
    path = root / "results" / "pilots" / f"{name}-vs-{tag}.json"
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
