"""bench-mounts' figures from the folds an interrupted `make bench-mounts` kept, for the seeds it
finished: every fold's confusion matrices are read from bench/work/mounts/run.unfinished and
summarised by the very function `collar-kd train` uses for several seeds (pooled MCC per seed,
paired differences with 95% bootstrap intervals over animals).

    python bench/pilots/mounts_kept.py 0,1      # bench/results/pilots/mounts-kept-seeds-0-1.json

Only seeds with every fold kept, all under one fingerprint, are accepted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import WORK, machine, write_result  # noqa: E402

from collar_kd.pipeline.train_run import seed_statistics  # noqa: E402

STORE = WORK / "mounts" / "run.unfinished"
MODELS = ("teacher", "kd_teacher", "student", "student_kd", "baseline_rf", "student_kd_transductive")


def main() -> None:
    seeds = [int(s) for s in sys.argv[1].split(",")]
    folds, prints = {}, set()
    for s in seeds:
        docs = [json.loads(p.read_text()) for p in sorted((STORE / f"seed-{s}").glob("fold-*/fold.json"))]
        if not docs or len({d["fingerprint"] for d in docs}) != 1:
            sys.exit(f"mounts_kept: seed {s}: no folds, or folds of different settings, in {STORE}")
        prints.add(docs[0]["fingerprint"])
        folds[s] = [d["fold"] for d in docs]
    animals = {s: [f["animal"] for f in fs] for s, fs in folds.items()}
    if len({tuple(a) for a in animals.values()}) != 1:
        sys.exit(f"mounts_kept: the seeds do not hold the same folds: {animals}")
    stats = seed_statistics(folds, MODELS)
    doc = {"source": str(STORE), "seeds": seeds, "animals": animals[seeds[0]], "fold_fingerprints": sorted(prints),
           "over_seeds": stats,
           "per_fold_mcc": {f["animal"]: {m: [folds[s][i][m]["mcc"] for s in seeds] for m in MODELS}
                            for i, f in enumerate(folds[seeds[0]])},
           "machine": machine()}
    for m in MODELS:
        print(f"{m:26s} {stats['pooled_mcc'][m]['mean']:.3f} {[round(v, 3) for v in stats['pooled_mcc'][m]['per_seed']]}")
    for line in stats["in_words"]:
        print(" ", line)
    name = "pilots/mounts-kept-seeds-" + "-".join(map(str, seeds)) + ".json"
    print(f"written: {write_result(name, doc)}")


if __name__ == "__main__":
    main()
