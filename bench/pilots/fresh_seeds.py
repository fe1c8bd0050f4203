"""Does the recipe do as well on seeds nobody chose it on? The winner's-curse check.

The collar recipe's last settings were adopted on the seeds of `accuracy-rfgqat.json` (3-7): a
setting that did well on them keeps that luck in their figures. `accuracy-fresh.json` is the same
benchmark, the same settings and cows, on seeds no choice was made on (8 and later). Per model (and
per key pair, as a difference), the mean pooled MCC over the fresh seeds minus that over the
selection seeds, with a 95% Welch interval over the seeds (the cows are the same in both; what
differs is the seed, so the seed is the unit of chance here).

    python bench/pilots/fresh_seeds.py fresh-vs-selection accuracy-rfgqat.json accuracy-fresh.json
                                       # -> bench/results/pilots/fresh-vs-selection.json

The two files are checked as merged_seeds.py checks them (the same windows, folds and settings but
the seed, no seed in both).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import machine, write_result  # noqa: E402
from merged_seeds import PAIRS, check_comparable, merged_rows, read  # noqa: E402

from collar_kd.evaluation.statistics import pooled_mcc_per_seed  # noqa: E402


def fresh_minus_selection(selection: np.ndarray, fresh: np.ndarray) -> dict:
    """Per-seed values of each set (pooled MCC, or a pair's pooled difference) -> the difference of
    their means and a 95% Welch interval (needs two seeds on each side)."""
    sel, new = np.asarray(selection, dtype=np.float64), np.asarray(fresh, dtype=np.float64)
    out = {"selection_mean": round(float(sel.mean()), 4), "fresh_mean": round(float(new.mean()), 4),
           "difference": round(float(new.mean() - sel.mean()), 4),
           "selection_per_seed": np.round(sel, 4).tolist(), "fresh_per_seed": np.round(new, 4).tolist()}
    if len(sel) >= 2 and len(new) >= 2:
        ci = stats.ttest_ind(new, sel, equal_var=False).confidence_interval(0.95)
        out.update(ci_low=round(float(ci.low), 4), ci_high=round(float(ci.high), 4))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="the result: bench/results/pilots/NAME.json")
    ap.add_argument("selection", help="bench-accuracy result of the seeds the recipe was chosen on "
                                      "(under bench/results)")
    ap.add_argument("fresh", help="bench-accuracy result of fresh seeds, the same settings (under bench/results)")
    args = ap.parse_args()
    files = [read(args.selection), read(args.fresh)]
    check_comparable(files)
    per_file = [merged_rows([f])[0] for f in files]
    models = [m for m in per_file[0] if m in per_file[1]]
    pooled = [{m: pooled_mcc_per_seed(conf[m]) for m in models} for conf in per_file]
    rows = {m: fresh_minus_selection(pooled[0][m], pooled[1][m]) for m in models}
    pairs = {f"{a} - {b}": fresh_minus_selection(pooled[0][a] - pooled[0][b], pooled[1][a] - pooled[1][b])
             for a, b in PAIRS if a in models and b in models}
    doc = {
        "how": "bench/pilots/fresh_seeds.py: per model the mean pooled MCC over the fresh seeds minus over the "
               "seeds the recipe was chosen on, and for each key pair the same of its per-seed pooled difference; "
               "95% Welch interval over seeds (the same cows on both sides)",
        "selection": {"file": args.selection, "seeds": files[0]["doc"]["seeds"]},
        "fresh": {"file": args.fresh, "seeds": files[1]["doc"]["seeds"]},
        "pooled_mcc": rows,
        "paired_differences": pairs,
        "machine": machine(),
    }
    path = write_result(f"pilots/{args.name}.json", doc)
    for k, d in {**rows, **pairs}.items():
        ci = f" [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]" if "ci_low" in d else ""
        print(f"  {k:40s} selection {d['selection_mean']:+.4f}  fresh {d['fresh_mean']:+.4f}  "
              f"fresh - selection {d['difference']:+.4f}{ci}")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
