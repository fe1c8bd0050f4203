"""Pilot: a variant of bench-accuracy against a reference run of the same seeds and folds.

    python bench/pilots/frame_vs_sensor.py NAME [SEED,...] [REFERENCE]

NAME is a variant run by `python bench/accuracy.py --name NAME --seeds ... --set ...` (its runs in
bench/work/accuracy-NAME-seed-S); the reference is the variant REFERENCE's runs, or without it
bench-accuracy's own runs of the same seeds (bench/work/accuracy-run, accuracy-run-seed-S). Since
2026-12-03 bench-accuracy runs in the animal's frame and its earlier sensor-frame runs are
bench/work/accuracy-sensor-seed-S: `frame_vs_sensor.py frame 0,1,2 sensor` gives the comparison
that made the frame the recipe's default. Per model: pooled MCC of both per seed and the paired
difference, variant minus reference, with the 95% bootstrap interval over animals of
collar_kd/evaluation/statistics.py. Writes bench/results/pilots/NAME-vs-REFERENCE.json
(REFERENCE "bench" for bench-accuracy's own runs).
"""
import json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import WORK  # noqa: E402
from collar_kd.evaluation.statistics import paired_difference, summarize_seeds  # noqa: E402

MODELS = ("teacher", "kd_teacher", "student", "student_kd", "baseline_rf", "student_kd_transductive")


def confusions(dirs: list[Path]) -> dict:
    docs = [json.loads((d / "metrics.json").read_text()) for d in dirs]
    return {m: np.array([[f[m]["confusion"] for f in doc["folds"]] for doc in docs]) for m in MODELS}, docs


if __name__ == "__main__":
    name = sys.argv[1]
    seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1").split(",")]
    reference = sys.argv[3] if len(sys.argv) > 3 else None
    ref_dirs = [WORK / f"accuracy-{reference}-seed-{s}" if reference else
                WORK / "accuracy-run" if s == 0 else WORK / f"accuracy-run-seed-{s}" for s in seeds]
    var_dirs = [WORK / f"accuracy-{name}-seed-{s}" for s in seeds]
    ref, ref_docs = confusions(ref_dirs)
    var, var_docs = confusions(var_dirs)
    assert [f["animal"] for f in ref_docs[0]["folds"]] == [f["animal"] for f in var_docs[0]["folds"]]
    out = {"variant": name, "reference": reference or "bench-accuracy", "seeds": seeds, "models": {}}
    for m in MODELS:
        d = paired_difference(var[m], ref[m])
        out["models"][m] = {"variant": summarize_seeds(var[m]), "reference": summarize_seeds(ref[m]),
                            "difference": round(d["difference"], 4), "ci": [round(d["ci_low"], 4), round(d["ci_high"], 4)]}
        v, r = out["models"][m]["variant"], out["models"][m]["reference"]
        print(f"{m:24s} {v['mean']:.4f} ({', '.join(f'{x:.3f}' for x in v['per_seed'])}) vs {r['mean']:.4f} "
              f"({', '.join(f'{x:.3f}' for x in r['per_seed'])}): {d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]")
    kd = paired_difference(var["student_kd"], var["student"])
    out["variant_student_kd_minus_student"] = {"difference": round(kd["difference"], 4), "ci": [round(kd["ci_low"], 4), round(kd["ci_high"], 4)]}
    print(f"in the variant, student_kd - student: {kd['difference']:+.4f} [{kd['ci_low']:+.4f}, {kd['ci_high']:+.4f}]")
    out["per_fold"] = [{"animal": f["animal"], **{m: [(None if doc["folds"][i][m]["mcc"] is None else round(doc["folds"][i][m]["mcc"], 4)) for doc in var_docs] for m in MODELS},
                        **{f"{m}_reference": [(None if doc["folds"][i][m]["mcc"] is None else round(doc["folds"][i][m]["mcc"], 4)) for doc in ref_docs] for m in MODELS}}
                       for i, f in enumerate(var_docs[0]["folds"])]
    path = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"{name}-vs-{reference or 'bench'}.json"
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)
