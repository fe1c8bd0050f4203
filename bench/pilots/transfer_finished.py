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
from common import RESULTS, result_confusions, write_result  # noqa: E402
from collar_kd.evaluation.statistics import paired_difference, pooled_mcc_per_seed  # noqa: E402

SEEDS = (5, 6, 7)
KEPT_SEED = 6  # from quant_gap.py's kept students; the others from the kd_variants run


def read(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def main() -> None:
    runs, kept, recipe = (read("pilots/kd-transfer-rfg-qat.json"), read("pilots/quant-gap-transfer-rfg-keep6-s6.json"),
                          read("accuracy-qatfinish.json"))
    animals = runs["animals"]
    if [f["animal"] for f in recipe["per_fold"]] != animals or kept["animals"] != animals:
        sys.exit("pilot: the three files hold other animals")

    def variant(row: str, kept_row: str) -> np.ndarray:
        return np.array([[f["confusion"]["variant"][kept_row] for f in kept["per_fold"]] if s == KEPT_SEED
                         else [runs["confusion"][f"{s}/{a}"][row] for a in animals] for s in SEEDS])

    def finished_recipe(model: str) -> np.ndarray:
        return result_confusions(recipe, model)[[recipe["seeds"].index(s) for s in SEEDS]]

    ours = {"float": variant("student_kd", "float_qat_self"), "fxp8": variant("student_kd_fxp8", "fxp8_qat_self")}
    theirs = {"float": finished_recipe("student_kd"), "fxp8": finished_recipe("student_kd_fxp8")}
    no_kd = finished_recipe("student")
    out = {"seeds": list(SEEDS), "pooled": {}, "paired": {}}
    for k in ours:
        out["pooled"][f"transfer-teachers finished {k}"] = np.round(pooled_mcc_per_seed(ours[k]), 4).tolist()
        out["pooled"][f"recipe finished {k}"] = np.round(pooled_mcc_per_seed(theirs[k]), 4).tolist()
        for name, ref in ((f"recipe finished {k}", theirs[k]), ("student without KD (float)", no_kd)):
            d = paired_difference(ours[k], ref)
            out["paired"][f"transfer-teachers {k} - {name}"] = {
                x: round(d[x], 4) if isinstance(d[x], float) else d[x]
                for x in ("difference", "ci_low", "ci_high", "animals_better", "animals_worse")}
    out["pooled"]["student without KD"] = np.round(pooled_mcc_per_seed(no_kd), 4).tolist()
    print(json.dumps(out, indent=1))
    print("wrote", write_result("pilots/transfer-rfg-qat-vs-qatfinish.json", out))


if __name__ == "__main__":
    main()
