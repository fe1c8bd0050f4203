"""Finished transfer-teachers students (kd-transfer-rfg-qat.json, seeds 5 and 7; seed 6 from
quant-gap-transfer-rfg-keep6-s6.json's variant/*_qat_self rows) against the finished recipe
(accuracy-qatfinish.json) and the student without KD, paired per cow (95% bootstrap over animals).

    python bench/pilots/kd_variants.py transfer-rfg-qat 5,7 '{"kd.transfer_teachers": ["resnet", "forest", "gru"], "kd.qat_epochs": 2}' --reference bench/results/accuracy-seeds567.json
    python bench/pilots/transfer_finished.py     # -> bench/results/pilots/transfer-rfg-qat-vs-qatfinish.json

Seed 6 comes from quant_gap.py's kept transfer-teachers students finished as a run with
kd.qat_epochs = 2 finishes them (the path quant_gap's recipe rows were shown equal to).

    python bench/pilots/transfer_finished.py --bench accuracy-rfgqat.json
        # -> bench/results/pilots/transfer-rfg-qat+accuracy-rfgqat-vs-qatfinish.json

With --bench, bench-accuracy's own runs of the setting (`--name rfgqat --set
kd.transfer_teachers=...`) join in: their seeds are taken from the bench result, the others from
the pilots, and a seed in both must be the same students (checked, confusion for confusion: the
pilot's path is the product's)."""
import argparse
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=None, help="a bench-accuracy result of the same setting (bench/results/NAME.json)")
    args = ap.parse_args()
    runs, kept, recipe = (read("pilots/kd-transfer-rfg-qat.json"), read("pilots/quant-gap-transfer-rfg-keep6-s6.json"),
                          read("accuracy-qatfinish.json"))
    animals = runs["animals"]
    if [f["animal"] for f in recipe["per_fold"]] != animals or kept["animals"] != animals:
        sys.exit("pilot: the three files hold other animals")

    def pilot(seed: int, row: str, kept_row: str) -> np.ndarray:
        if seed == KEPT_SEED:
            return np.array([f["confusion"]["variant"][kept_row] for f in kept["per_fold"]])
        return np.array([runs["confusion"][f"{seed}/{a}"][row] for a in animals])

    rows = {"float": ("student_kd", "float_qat_self"), "fxp8": ("student_kd_fxp8", "fxp8_qat_self")}
    found = {s: {k: pilot(s, *r) for k, r in rows.items()} for s in SEEDS}
    source = {s: "pilot" for s in SEEDS}
    if args.bench:
        bench = read(args.bench)
        if [f["animal"] for f in bench["per_fold"]] != animals:
            sys.exit(f"pilot: {args.bench} holds other animals")
        for i, s in enumerate(bench["seeds"]):
            ran = {k: result_confusions(bench, r[0])[i] for k, r in rows.items()}
            if s in found:
                same = all(np.array_equal(ran[k], found[s][k]) for k in rows)
                print(f"seed {s}: bench-accuracy's students {'equal' if same else 'DIFFER FROM'} the pilot's")
                if not same:
                    sys.exit("pilot: the product's path and the pilot's differ; not merged")
            found[s], source[s] = ran, args.bench
    seeds = sorted(found)
    if missing := [s for s in seeds if s not in recipe["seeds"]]:
        sys.exit(f"pilot: accuracy-qatfinish.json has no seed {missing}")

    def finished_recipe(model: str) -> np.ndarray:
        return result_confusions(recipe, model)[[recipe["seeds"].index(s) for s in seeds]]

    ours = {k: np.array([found[s][k] for s in seeds]) for k in rows}
    theirs = {"float": finished_recipe("student_kd"), "fxp8": finished_recipe("student_kd_fxp8")}
    no_kd = finished_recipe("student")
    out = {"seeds": seeds, "source": {str(s): source[s] for s in seeds}, "pooled": {}, "paired": {}}
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
    name = "transfer-rfg-qat" + (f"+{Path(args.bench).stem}" if args.bench else "")
    print("wrote", write_result(f"pilots/{name}-vs-qatfinish.json", out))


if __name__ == "__main__":
    main()
