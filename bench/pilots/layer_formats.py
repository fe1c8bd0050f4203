"""Pilot: which layer's 8-bit weights cost a distilled student its accuracy on one cow, and whether
a format per row (or per block of rows) recovers it. Only the weights named are rounded (the rest
of the model stays float), in the range rule's format for the whole tensor, per row, or per
block of 4 or 8 rows (the logits' rows always share one format).

    python bench/pilots/layer_formats.py SEED ANIMAL      (bench-accuracy's saved fold models)

Writes bench/results/pilots/layer-formats-sSEED-ANIMAL.json.
"""
import copy, json, sys
from pathlib import Path
import numpy as np
import torch
from safetensors.torch import load_file
from sklearn.metrics import matthews_corrcoef
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import SETTINGS, WORK_RUN
from common import require_wasp
from collar_kd.config import load_config
from collar_kd.data import load_recordings, windows_for
from collar_kd.quant.formats import frac_for_range, quantize
from collar_kd.quant.quantizer import LAYERS, float_layers
from collar_kd.runs import build_model, read_json
from collar_kd.training.loop import predict_logits

seed, animal = int(sys.argv[1]), sys.argv[2]
root = require_wasp()
cfg = load_config(None, {**SETTINGS, "data.path": str(root), "threads": 1})
rec, cmap = load_recordings(cfg.data, seed=0)
win = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
arch = {"classes": list(win.classes), "sample_rate_hz": win.sample_rate, "window_length": win.length,
        "student": {"hidden": cfg.student.hidden, "head": cfg.student.head}}
run = WORK_RUN if seed == 0 else Path(str(WORK_RUN) + f"-seed-{seed}")
fold = [f for f in read_json(run / "metrics.json")["folds"] if f["animal"] == animal][0]
test = win.animal == animal
model = build_model("student_kd", arch)
model.load_state_dict(load_file(str(run / "folds" / fold["key"] / "student_kd.safetensors")))
model.eval()


def rounded(w: np.ndarray, block: int | None) -> np.ndarray:
    """w in 8 bits, one range-rule format per `block` rows (None: one for the tensor)."""
    block = len(w) if block is None else block
    out = np.empty_like(w)
    for i in range(0, len(w), block):
        f = frac_for_range(float(np.abs(w[i : i + block]).max()), 127)
        out[i : i + block] = quantize(w[i : i + block], f, 127) * 2.0**-f
    return out


def mcc(layers: list[str], block: int | None) -> float:
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, (w, _) in float_layers(m).items():
            if name in layers:
                v = w.detach().numpy().astype(np.float64)
                w.copy_(torch.from_numpy(rounded(v, None if name == "fc2" else block)).float())
    return round(float(matthews_corrcoef(win.y[test], predict_logits(m, win.x[test]).argmax(1))), 4)


res = {"seed": seed, "animal": animal, "float": mcc([], None), "per_tensor": {}, "per_row": {}, "all_layers": {}}
for name in LAYERS:
    res["per_tensor"][name] = mcc([name], None)
    res["per_row"][name] = mcc([name], 1)
for label, block in (("tensor", None), ("row", 1), ("block4", 4), ("block8", 8)):
    res["all_layers"][label] = mcc(list(LAYERS), block)
print(json.dumps(res))
out = Path(__file__).resolve().parents[1] / "results" / "pilots" / f"layer-formats-s{seed}-{animal}.json"
out.write_text(json.dumps(res, indent=1))
