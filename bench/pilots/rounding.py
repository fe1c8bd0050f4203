"""Pilot: does rounding each weight to its nearest grid point cost the 8-bit model its MCC?

bench-accuracy's kept distilled students (after the run's quantization-aware finish) quantized
again with the run's calibration and per-row formats, 8 bits everywhere, rounded in three ways,
and the held-out animal simulated bit-exactly:

  float         the float student (bench-accuracy's student_kd row)
  nearest       every weight and bias to its nearest grid point (bench-accuracy's 8-bit row up to
                2026-12-06; checked equal to it)
  bias_only     weights to the nearest point, then each bias moved by the mean of what that did to
                its output on the calibration windows (bias correction, Nagel et al. 2019)
  compensated   column by column, each rounding error made up by the weights and bias not yet
                rounded (GPTQ with the bias as a last column; quantizer.compensated_rounding)
  compensated_inp_ih16   compensated, with the input layer and the GRU's input matrix in 16 bits

The formats (every row's fractional length, every shift) are the same in every row: only which
grid point each weight takes differs, so the C, its flash and its instructions are the same.

    python bench/pilots/rounding.py NAME SEED [SEED ...]

Writes bench/results/pilots/rounding-NAME-sSEEDS.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import requantize_kept_students  # noqa: E402

PAIRS = (("nearest", "float"), ("bias_only", "float"), ("compensated", "float"), ("compensated_inp_ih16", "float"),
         ("compensated", "nearest"), ("compensated", "bias_only"))


def quantized(rounding: str, layer_bits: dict | None = None):
    from collar_kd.quant.quantizer import quantize_student

    return lambda student, x, arch, cfg: quantize_student(student, x, arch, 8, cfg.method.calibration, cfg.method.weight_formats,
                                                          layer_bits, rounding=rounding)


def bias_corrected(student, x, arch, cfg):
    """Nearest weights; every bias less the mean change rounding made to its output (then rounded)."""
    from collar_kd.quant.formats import round_half_up
    from collar_kd.quant.quantizer import calibration_tensors, float_layers, layer_second_moments
    from collar_kd.quant.spec import BIAS_LIMIT

    q = quantized("nearest")(student, x, arch, cfg)
    mean_in = {k: m[-1, :-1] for k, m in layer_second_moments(calibration_tensors(student, x)).items()}  # E[input]
    for name, (w, b) in float_layers(student).items():
        step = 2.0 ** -q.weight_frac(name).astype(np.float64)
        shift = (q.weights[name] * step[:, None] - w.detach().numpy()) @ mean_in[name]
        scale = 2.0 ** (q.weight_frac(name) + q.input_frac[name]).astype(np.float64)
        q.biases[name] = np.clip(round_half_up((b.detach().numpy() - shift) * scale), -BIAS_LIMIT[8], BIAS_LIMIT[8]).astype(np.int64)
    q.rounding = "nearest"  # (bias-corrected: this pilot's row only)
    return q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="the bench-accuracy variant whose kept students to quantize (bench/work/accuracy-NAME-seed-S)")
    ap.add_argument("seeds", type=int, nargs="+")
    args = ap.parse_args()
    variants = {"nearest": quantized("nearest"), "bias_only": bias_corrected, "compensated": quantized("compensated"),
                "compensated_inp_ih16": quantized("compensated", {"inp": 16, "ih": 16})}
    requantize_kept_students(args.name, args.seeds, variants, PAIRS, "nearest",
                             f"pilots/rounding-{args.name}-s{'-'.join(map(str, args.seeds))}.json",
                             {"rows": list(variants), "formats": "the run's calibration and per-row formats, 8-bit weights"})


if __name__ == "__main__":
    main()
