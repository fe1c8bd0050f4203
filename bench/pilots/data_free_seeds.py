"""One data-free variant over seeds that were run separately: bench/data_free.py results of
disjoint seeds against the same reference, combined into the figures one run of all those seeds
would report (every fold job seeds itself, so a seed's students do not depend on which other
seeds ran beside them).

    python bench/pilots/data_free_seeds.py RESULT.json RESULT.json ... --variant NAME --name NAME
                                           [--accept-difference WHY]

Reports, per seed and as mean and spread over seeds: the pooled MCC of the variant, of its fold
teachers and of the reference's distilled student; the gap to the distilled student (the target:
within 0.15); and per animal, the gap averaged over seeds with a 95% bootstrap interval over
animals. Writes bench/results/pilots/data-free-NAME.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RESULTS, bootstrap_mean, machine, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="bench/data_free.py results of disjoint seeds")
    ap.add_argument("--variant", required=True, help="the variant to combine (as named in the results)")
    ap.add_argument("--name", required=True, help="names the combined result")
    ap.add_argument("--accept-difference", default="", metavar="WHY",
                    help="combine although the variant's settings are written differently in the results (a setting "
                         "renamed since), saying why they are the same method; recorded in the result with both settings")
    args = ap.parse_args()
    docs = [json.loads(p.read_text()) for p in args.results]
    for p, d in zip(args.results, docs):
        if args.variant not in d["variants"]:
            sys.exit(f"bench: {p} has no variant {args.variant!r} (it has: {'; '.join(d['variants'])})")
    first = docs[0]
    for p, d in zip(args.results[1:], docs[1:]):
        for what in ("reference", "animals"):
            if d[what] != first[what]:
                sys.exit(f"bench: {p} and {args.results[0]} differ in {what}: they cannot be combined")
        if d["variants"][args.variant] != first["variants"][args.variant] and not args.accept_difference:
            sys.exit(f"bench: {p} ran {args.variant!r} with other settings than {args.results[0]} "
                     "(--accept-difference WHY if they are the same method written differently)")
    seeds = [s for d in docs for s in d["seeds"]]
    if len(set(seeds)) != len(seeds):
        sys.exit(f"bench: the results share seeds ({seeds}): combine disjoint seeds only")
    ref = json.loads((RESULTS / first["reference"]).read_text())
    col = {s: ref["seeds"].index(s) for s in seeds}
    animals = first["animals"]
    ref_mcc = {f["animal"]: f["mcc_by_seed"] for f in ref["per_fold"]}

    def per_seed(row: str) -> dict[int, float]:
        return {s: v for d in docs for s, v in zip(d["seeds"], d["pooled_mcc"][row]["per_seed"])}

    pooled = {"data-free": per_seed(args.variant), "teacher": per_seed("teacher"),
              "student_kd (real data, the reference's row)": {s: ref["pooled_mcc"]["student_kd"]["per_seed"][col[s]] for s in seeds}}
    df_by_animal = {a: {s: v for d in docs for s, v in zip(d["seeds"], d["per_animal_mcc"][args.variant][a])} for a in animals}
    gap_by_animal = np.array([np.mean([df_by_animal[a][s] - ref_mcc[a]["student_kd"][col[s]] for s in seeds]) for a in animals])
    lo, hi = bootstrap_mean(gap_by_animal)
    gap_by_seed = {s: pooled["data-free"][s] - pooled["student_kd (real data, the reference's row)"][s] for s in seeds}
    gap = float(np.mean(list(gap_by_seed.values())))
    doc = {
        "combined_from": [str(p) for p in args.results], "reference": first["reference"], "variant": args.variant,
        "settings": {str(p): d["variants"][args.variant] for p, d in zip(args.results, docs)},
        "settings_differ_because": args.accept_difference or None, "seeds": seeds, "animals": animals,
        "teachers_identical_to_reference": all(d["teachers_identical_to_reference"] for d in docs),
        "pooled_mcc": {m: {"mean": float(np.mean(list(v.values()))),
                           "sd_over_seeds": float(np.std(list(v.values()), ddof=1)) if len(v) > 1 else None,
                           "per_seed": {str(s): v[s] for s in seeds}} for m, v in pooled.items()},
        "gap_to_kd_per_seed": {str(s): round(g, 4) for s, g in gap_by_seed.items()},
        "gap_to_kd_per_animal": {"mean": round(float(gap_by_animal.mean()), 4), "ci95_of_mean": [round(lo, 4), round(hi, 4)],
                                 "animals_better": int((gap_by_animal > 0).sum()), "animals_worse": int((gap_by_animal < 0).sum()),
                                 "per_animal": {a: round(float(g), 4) for a, g in zip(animals, gap_by_animal)},
                                 "how": "per animal, mean over seeds of (data-free MCC - the reference's student_kd MCC); "
                                        "percentile bootstrap over animals, 10,000 draws"},
        "per_animal_mcc": {a: {str(s): df_by_animal[a][s] for s in seeds} for a in animals},
        "targets": {"data_free_within_0.15_of_kd": {"target": ">= KD (real data) - 0.15 (pooled MCC, mean over seeds)",
                                                    "measured": round(gap, 4), "met": gap >= -0.15,
                                                    "seeds_met": sum(g >= -0.15 for g in gap_by_seed.values())}},
        "machine": machine(),
    }
    path = write_result(f"pilots/data-free-{args.name}.json", doc)
    print(f"wrote {path}")
    for m, v in doc["pooled_mcc"].items():
        print(f"  {m:45s} pooled MCC {v['mean']:.4f} (sd {v['sd_over_seeds'] or 0:.4f}) {v['per_seed']}")
    g = doc["gap_to_kd_per_animal"]
    print(f"  data-free minus KD: pooled {gap:+.4f} (per seed {doc['gap_to_kd_per_seed']}); per animal {g['mean']:+.4f} "
          f"[{g['ci95_of_mean'][0]:+.4f}, {g['ci95_of_mean'][1]:+.4f}], better on {g['animals_better']} of {len(animals)}")


if __name__ == "__main__":
    main()
