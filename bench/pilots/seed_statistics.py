"""Several seeds of one student pilot, with the statistics bench-accuracy uses: every model's
pooled MCC per seed (mean, spread) and paired differences with 95% bootstrap intervals over
animals, from the predictions student_variants.py saved for each seed.

    python bench/pilots/seed_statistics.py NAME [SEED,...]     (default seeds 0,1,2)

Writes bench/results/pilots/student-NAME-seeds.json.
"""
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import WORK_RUN  # noqa: E402
from saved_folds import run_dir  # noqa: E402
from collar_kd.evaluation.statistics import paired_difference, summarize_seeds  # noqa: E402
from collar_kd.runs import read_json  # noqa: E402


def confusions(name: str, seeds: list[int]) -> dict[str, np.ndarray]:
    """model -> (seeds, animals, K, K), the animals in the saved run's fold order."""
    out: dict[str, list] = {}
    for seed in seeds:
        metrics = read_json(run_dir(seed) / "metrics.json")
        k = len(metrics["classes"])
        saved = np.load(WORK_RUN.parent / f"preds-student-{name}-s{seed}.npz")
        edges = np.cumsum([0] + [f["test_windows"] for f in metrics["folds"]])
        for model in (m for m in saved.files if m != "y" and "@" not in m):
            out.setdefault(model, []).append([confusion_matrix(saved["y"][a:b], saved[model][a:b], labels=range(k))
                                              for a, b in zip(edges[:-1], edges[1:])])
    return {m: np.array(v) for m, v in out.items()}


def main() -> None:
    name = sys.argv[1]
    seeds = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [0, 1, 2]
    conf = confusions(name, seeds)
    pooled = {m: summarize_seeds(c) for m, c in conf.items()}
    teacher = f"{name}_teacher"  # what the pilot's student learned from, when it had several teachers
    compared = [(name, teacher), (name, "student"), (name, "student_kd"), (teacher, "student")]
    pairs = {}
    for a, b in (p for p in compared if p[0] in conf and p[1] in conf):
        d = paired_difference(conf[a], conf[b])
        pairs[f"{a} - {b}"] = {k: v for k, v in d.items() if not isinstance(v, (list, np.ndarray))}
    for m, v in pooled.items():
        print(f"{m:24s} {v['mean']:.4f} (sd {v['sd']:.4f}; {' / '.join(f'{x:.4f}' for x in v['per_seed'])})")
    for k, d in pairs.items():
        print(f"{k:36s} {d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] "
              f"better on {d['animals_better']}, worse on {d['animals_worse']}")
    out = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"student-{name}-seeds.json"
    out.write_text(json.dumps({"pilot": name, "seeds": seeds, "pooled_mcc": pooled, "paired_differences": pairs}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
