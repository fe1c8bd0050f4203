"""Finished transfer-teachers students (kd-transfer-rfg-qat.json, seeds 5 and 7; seed 6 from
quant-gap-transfer-rfg-keep6-s6.json's variant/*_qat_self rows) against the finished recipe
(accuracy-qatfinish.json) and the student without KD, paired per cow (95% bootstrap over animals).

    python bench/pilots/kd_variants.py transfer-rfg-qat 5,7 '{"kd.transfer_teachers": ["resnet", "forest", "gru"], "kd.qat_epochs": 2}' --reference bench/results/accuracy-seeds567.json
    python bench/pilots/transfer_finished.py     # -> bench/results/pilots/transfer-rfg-qat-vs-qatfinish.json

Seed 6 comes from quant_gap.py's kept transfer-teachers students finished as a run with
kd.qat_epochs = 2 finishes them (the path quant_gap's recipe rows were shown equal to)."""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, write_result  # noqa: E402
from collar_kd.evaluation.statistics import paired_difference, pooled_mcc_per_seed  # noqa: E402

R = str(RESULTS) + "/"
v = json.load(open(R + "pilots/kd-transfer-rfg-qat.json"))
qg = json.load(open(R + "pilots/quant-gap-transfer-rfg-keep6-s6.json"))
acc = json.load(open(R + "accuracy-qatfinish.json"))
animals = v["animals"]
assert [f["animal"] for f in acc["per_fold"]] == animals and qg["animals"] == animals
seeds = [5, 6, 7]
def var(row, qrow):
    out = []
    for s in seeds:
        if s == 6:
            out.append([f["confusion"]["variant"][qrow] for f in qg["per_fold"]])
        else:
            out.append([v["confusion"][f"{s}/{a}"][row] for a in animals])
    return np.array(out)
def rec(m):
    cols = [acc["seeds"].index(s) for s in seeds]
    return np.array([[f["confusion_by_seed"][m][c] for f in acc["per_fold"]] for c in cols])
V = {"float": var("student_kd", "float_qat_self"), "fxp8": var("student_kd_fxp8", "fxp8_qat_self")}
A = {"float": rec("student_kd"), "fxp8": rec("student_kd_fxp8")}
S = rec("student")
out = {"seeds": seeds, "pooled": {}, "paired": {}}
for k in V:
    out["pooled"][f"transfer-teachers finished {k}"] = np.round(pooled_mcc_per_seed(V[k]), 4).tolist()
    out["pooled"][f"recipe finished {k}"] = np.round(pooled_mcc_per_seed(A[k]), 4).tolist()
    for name, ref in ((f"recipe finished {k}", A[k]), ("student without KD (float)", S)):
        d = paired_difference(V[k], ref)
        out["paired"][f"transfer-teachers {k} - {name}"] = {x: round(d[x], 4) if isinstance(d[x], float) else d[x]
                                                            for x in ("difference", "ci_low", "ci_high", "animals_better", "animals_worse")}
out["pooled"]["student without KD"] = np.round(pooled_mcc_per_seed(S), 4).tolist()
print(json.dumps(out, indent=1))
print("wrote", write_result("pilots/transfer-rfg-qat-vs-qatfinish.json", out))
