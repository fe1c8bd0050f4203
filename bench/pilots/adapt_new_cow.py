"""Pilot: `collar-kd adapt` on a real new cow, through the commands a farm would run.

    python bench/pilots/adapt_new_cow.py [COW ...] [--seed 0] [--name NAME]

For each cow (default: the first in the shared WASP collars' order, chosen before any result):
`collar-kd train` on the other cows (the collar recipe, no cross-validation), `collar-kd adapt`
of that run to the cow's recordings (their labels never read), then `collar-kd predict --score`
of both runs on the cow: the MCC of the strict and the adapted distilled student on windows slid
over the cow's whole recordings. The two datasets are views of the shared folder (its files
linked, index.csv filtered): nothing is copied or committed.
Writes bench/results/pilots/adapt-new-cow.json (or adapt-<NAME>.json).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cows", nargs="*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="new-cow")
    args = ap.parse_args()
    root = require_wasp()
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
