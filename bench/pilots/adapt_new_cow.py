"""Pilot: `collar-kd adapt` on a real new cow, through the commands a farm would run.

    python bench/pilots/adapt_new_cow.py [COW ...] [--seed 0] [--name NAME]
    python bench/pilots/adapt_new_cow.py --pool [--seed 0]    (every cow run so far, pooled)

For each cow (default: the first in the shared WASP collars' order, chosen before any result):
`collar-kd train` on the other cows (the collar recipe, no cross-validation), `collar-kd adapt`
of that run to the cow's recordings (their labels never read), then `collar-kd predict --score`
of both runs on the cow: the MCC of the strict and the adapted distilled student on windows slid
over the cow's whole recordings. The two datasets are views of the shared folder (its files
linked, index.csv filtered): nothing is copied or committed.
Writes bench/results/pilots/adapt-new-cow.json (or adapt-<NAME>.json). --pool reads the windows
every run left in bench/work/adapt-new-cow/seed-S and writes adapt-new-cow-pooled.json: the pooled
MCC of each model over the cows, and adapted minus strict with a 95% bootstrap interval over cows
(collar_kd.evaluation.statistics.paired_difference, one seed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import WORK, machine, require_wasp, write_result  # noqa: E402

PILOT = WORK / "adapt-new-cow"


def view(root: Path, out: Path, keep) -> Path:
    """A dataset folder that shows the shared one's rows `keep` of index.csv: their files linked
    one by one, index.csv filtered."""
    index = pd.read_csv(root / "index.csv")
    index = index[keep(index)]
    for f in index["file"]:
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        if not (out / f).exists():
            (out / f).symlink_to((root / f).resolve())
    index.to_csv(out / "index.csv", index=False)
    return out


def cli(*args) -> None:
    subprocess.run(["collar-kd", *map(str, args)], check=True)


def scored(directory: Path) -> dict:
    s = json.loads((directory / "predict.json").read_text())["scores"]["unsmoothed"]
    return {"mcc": s["mcc"], "accuracy": s["accuracy"]}


MODELS = {"strict": "predict-strict", "adapted": "predict-adapted", "forest + strict student": "predict-labeller"}


def pool(seed: int) -> None:
    """Confusion matrices of every cow's unsmoothed windows, pooled over the cows."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    from collar_kd.evaluation.statistics import mcc_from_confusion, paired_difference

    cows = sorted(p.name for p in (PILOT / f"seed-{seed}").iterdir()
                  if all((p / d / "windows.csv").is_file() for d in MODELS.values()))
    classes = json.loads((PILOT / f"seed-{seed}" / cows[0] / "run" / "models" / "models.json").read_text())["classes"]
    conf = {}
    for model, d in MODELS.items():
        mats = []
        for cow in cows:
            w = pd.read_csv(PILOT / f"seed-{seed}" / cow / d / "windows.csv")
            w = w[w["label"].isin(classes)]  # windows with a label (--score)
            mats.append(confusion_matrix(w["label"], w["class_unsmoothed"], labels=classes))
        conf[model] = np.array([mats])  # (1 seed, cows, K, K)
    write_result("pilots/adapt-new-cow-pooled.json", {
        "what": "bench/pilots/adapt_new_cow.py --pool: every cow run so far, windows over whole recordings, unsmoothed",
        "seed": seed, "cows": cows, "classes": classes,
        "pooled_mcc": {m: float(mcc_from_confusion(c.sum(axis=1))[0]) for m, c in conf.items()},
        "per_cow_mcc": {m: dict(zip(cows, map(float, mcc_from_confusion(c)[0]))) for m, c in conf.items()},
        "adapted - strict": paired_difference(conf["adapted"], conf["strict"]),
        "forest + strict student - strict": paired_difference(conf["forest + strict student"], conf["strict"]),
        "machine": machine()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cows", nargs="*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="new-cow")
    ap.add_argument("--pool", action="store_true")
    args = ap.parse_args()
    root = require_wasp()
    if args.pool:
        pool(args.seed)
        return
    index = pd.read_csv(root / "index.csv")
    cows = args.cows or [str(sorted(index["cow_id"].astype(str).unique())[0])]
    results = {}
    for cow in cows:
        started = time.time()
        work = PILOT / f"seed-{args.seed}" / cow
        others = view(root, work / "data-others", lambda i: i["cow_id"].astype(str) != cow)
        this = view(root, work / "data-cow", lambda i: i["cow_id"].astype(str) == cow)
        run, adapted = work / "run", work / "adapted"
        cli("train", "--data", others, "--format", "wasp", "--cv", "none", "--seed", args.seed, "--out", run,
            "--force", "-q")
        trained = time.time()
        cli("adapt", run, "--data", this, "--format", "wasp", "--out", adapted, "--force", "-q")
        adapted_at = time.time()
        rows = {}
        for name, r in (("strict", run), ("adapted", adapted)):
            cli("predict", r, "--data", this, "--format", "wasp", "--score", "--out", work / f"predict-{name}",
                "--force", "-q")
            rows[name] = scored(work / f"predict-{name}")
        cli("predict", run, "--data", this, "--format", "wasp", "--score", "--model", "student_kd+baseline_rf",
            "--out", work / "predict-labeller", "--force", "-q")
        rows["labeller (strict student and forest, averaged)"] = scored(work / "predict-labeller")
        s = json.loads((adapted / "adaptation.json").read_text())
        results[cow] = {**rows, "adapted - strict": rows["adapted"]["mcc"] - rows["strict"]["mcc"],
                        "windows": s["windows"], "windows_changed_class": s["windows_changed_class"],
                        "seconds": {"train": round(trained - started, 1), "adapt": round(adapted_at - trained, 1)}}
        print(cow, json.dumps(results[cow]), flush=True)
    write_result(f"pilots/adapt-{args.name}.json", {
        "what": "collar-kd train on the other cows (collar recipe, cv none), collar-kd adapt to this cow's recordings "
                "without their labels, collar-kd predict --score of both on this cow (windows over whole recordings, "
                "unsmoothed)",
        "seed": args.seed, "cows": results, "machine": machine()})


if __name__ == "__main__":
    main()
