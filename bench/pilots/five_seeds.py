"""bench-accuracy's three seeds and two more, merged: is distillation's gain over the student without
KD signal or noise?

    python bench/accuracy.py --name seeds34 --seeds 3,4      # the two extra seeds (bench/work)
    python bench/pilots/five_seeds.py                        # bench/results/pilots/five-seeds.json

Seeds 0-2 are bench/results/accuracy-2026-12-05.json, seeds 3-4 bench/results/accuracy-seeds34.json: the same
settings but the seed (checked), the same windows and folds (checked). The strict rows (teachers,
students, forest, 8-bit student) merge as they are. The transductive row of accuracy-2026-12-05.json was
labelled by the teachers, and the collar recipe has since labelled it by the strict student
(transductive_labels = "student"): seeds 0-2 of that row come from the pilot that fine-tuned
bench-accuracy's very students that way (bench/results/pilots/transductive-labels.json, its strict
students checked equal to accuracy-2026-12-05.json's here too), seeds 3-4 from the benchmark itself.
Statistics are bench-accuracy's own: pooled MCC per seed, and paired differences with a 95%
bootstrap interval over animals (collar_kd/evaluation/statistics.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, machine, result_confusions as confusions, write_result  # noqa: E402

from collar_kd.evaluation.statistics import describe_difference, paired_difference, summarize_seeds  # noqa: E402
from collar_kd.evaluation.report import LABELS  # noqa: E402
from collar_kd.pipeline.train_run import KEY_PAIRS, TRANSDUCTIVE  # noqa: E402

STRICT = ("teacher", "kd_teacher", "student", "student_kd", "baseline_rf", "student_kd_fxp8")
# The pairs `train` reports (train_run.KEY_PAIRS), and the 8-bit student against its float model.
PAIRS = (*KEY_PAIRS, ("student_kd_fxp8", "student_kd"))
# Settings that may differ between the two files: the seeds, and who labels the transductive row.
MAY_DIFFER = ("seed", "transductive_labels")


def comparable(a: dict, b: dict) -> None:
    sa = {k: v for k, v in a["settings"].items() if k not in MAY_DIFFER}
    sb = {k: v for k, v in b["settings"].items() if k not in MAY_DIFFER}
    if sa != sb:
        keys = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
        sys.exit(f"five_seeds: the two results were trained with other settings ({', '.join(keys)})")
    if [f["animal"] for f in a["per_fold"]] != [f["animal"] for f in b["per_fold"]] or a["windows"] != b["windows"]:
        sys.exit("five_seeds: the two results have other folds or windows")


def main() -> None:
    first = json.loads((RESULTS / "accuracy-2026-12-05.json").read_text())
    extra = json.loads((RESULTS / "accuracy-seeds34.json").read_text())
    pilot = json.loads((RESULTS / "pilots" / "transductive-labels.json").read_text())
    comparable(first, extra)
    if extra["settings"].get("transductive_labels") != "student":
        sys.exit("five_seeds: the extra seeds' transductive row was not labelled by the strict student")
    student_labels = pilot["variants"].index({"transductive_labels": "student"})
    animals = [f["animal"] for f in first["per_fold"]]
    if pilot["seeds"] != first["seeds"] or pilot["animals"] != animals:
        sys.exit("five_seeds: the transductive pilot ran other seeds or animals than accuracy-2026-12-05.json")
    pilot_conf = {m: np.array([[pilot["confusion"][f"{s}/{a}"][m] for a in animals] for s in pilot["seeds"]])
                  for m in ("student_kd", f"variant_{student_labels}")}
    if not np.array_equal(pilot_conf["student_kd"], confusions(first, "student_kd")):
        sys.exit("five_seeds: the pilot's strict students are not accuracy-2026-12-05.json's")

    seeds = first["seeds"] + extra["seeds"]
    conf = {m: np.concatenate([confusions(first, m), confusions(extra, m)]) for m in STRICT}
    conf[TRANSDUCTIVE] = np.concatenate([pilot_conf[f"variant_{student_labels}"], confusions(extra, TRANSDUCTIVE)])
    summary = {m: summarize_seeds(c) for m, c in conf.items()}
    pairs = {f"{a} - {b}": paired_difference(conf[a], conf[b]) for a, b in PAIRS}
    # The same pairs on the extra seeds alone: what the two new seeds say by themselves.
    new_only = {f"{a} - {b}": paired_difference(conf[a][3:], conf[b][3:]) for a, b in PAIRS}
    for d in (*pairs.values(), *new_only.values()):
        d["per_animal_difference"] = dict(zip(animals, (round(v, 4) for v in d["per_animal_difference"])))
    kd, no_kd = summary["student_kd"]["mean"], summary["student"]["mean"]
    doc = {
        "how": "seeds 0-2: bench/results/accuracy-2026-12-05.json; seeds 3-4: bench/results/accuracy-seeds34.json "
               "(python bench/accuracy.py "
               "--name seeds34 --seeds 3,4), the same settings but the seed; the transductive row (labelled by the strict "
               "student) of seeds 0-2: bench/results/pilots/transductive-labels.json. Pooled MCC per seed; paired "
               "differences with 95% percentile bootstrap intervals over animals (10,000 resamples)",
        "seeds": seeds,
        "animals": animals,
        "pooled_mcc": summary,
        "paired_differences": pairs,
        "paired_differences_seeds_3_4_only": new_only,
        "in_words": [describe_difference(LABELS.get(a, a), LABELS.get(b, b), pairs[f"{a} - {b}"]) for a, b in PAIRS],
        "targets": {
            "kd_8bit_mcc": {"target": ">= 0.70", "measured": round(summary["student_kd_fxp8"]["mean"], 4),
                            "met": summary["student_kd_fxp8"]["mean"] >= 0.70},
            "kd_vs_no_kd": {"target": ">= +0.03 with the 95% CI above 0", "measured": round(kd - no_kd, 4),
                            "ci": [round(pairs["student_kd - student"]["ci_low"], 4), round(pairs["student_kd - student"]["ci_high"], 4)],
                            "met": kd - no_kd >= 0.03 and pairs["student_kd - student"]["ci_low"] > 0},
            "kd_vs_forest": {"target": ">= +0.05", "measured": round(kd - summary["baseline_rf"]["mean"], 4),
                             "met": kd - summary["baseline_rf"]["mean"] >= 0.05},
            "teacher_vs_no_kd": {"target": ">= +0.03", "measured": round(summary["teacher"]["mean"] - no_kd, 4),
                                 "met": summary["teacher"]["mean"] - no_kd >= 0.03},
            "kd_teacher_vs_no_kd": {"target": ">= +0.03", "measured": round(summary["kd_teacher"]["mean"] - no_kd, 4),
                                    "met": summary["kd_teacher"]["mean"] - no_kd >= 0.03},
            "fxp8_vs_float_kd": {"target": "within 0.005", "measured": round(summary["student_kd_fxp8"]["mean"] - kd, 4),
                                 "met": abs(summary["student_kd_fxp8"]["mean"] - kd) <= 0.005},
            "new_farm_row_above_strict_kd": {"target": "> 0", "measured": round(summary[TRANSDUCTIVE]["mean"] - kd, 4),
                                             "ci": [round(pairs[f"{TRANSDUCTIVE} - student_kd"]["ci_low"], 4),
                                                    round(pairs[f"{TRANSDUCTIVE} - student_kd"]["ci_high"], 4)],
                                             "met": summary[TRANSDUCTIVE]["mean"] > kd},
        },
        "wall_time_s_seeds_3_4": extra.get("wall_time_s"),
        "machine": machine(),
    }
    path = write_result("pilots/five-seeds.json", doc)
    for m, v in summary.items():
        print(f"  {m:26s} {v['mean']:.4f} (sd {v['sd']:.4f}; {' / '.join(f'{x:.3f}' for x in v['per_seed'])})")
    for k, d in pairs.items():
        n = new_only[k]
        print(f"  {k:40s} {d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]  "
              f"seeds 3-4 alone {n['difference']:+.4f} [{n['ci_low']:+.4f}, {n['ci_high']:+.4f}]")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
