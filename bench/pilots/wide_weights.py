"""Pilot: which layers' 8-bit weights cost the integer model its MCC?

bench-accuracy keeps every fold's distilled student (bench/work/accuracy-NAME-seed-S/folds/KEY/
student_kd.safetensors: the float weights after the run's quantization-aware finish). This pilot
quantizes each of them again with the run's calibration and per-row formats, with every layer in
8 bits and with one or more layers' weights in 16 bits (`quantize_student(..., layer_bits=...)`),
and simulates the held-out animal's windows bit-exactly:

  float      the float student (bench-accuracy's student_kd row)
  fxp8       every weight in 8 bits (bench-accuracy's 8-bit row; checked equal to it)
  inp16      the input layer (3 -> hidden) in 16 bits, the rest in 8
  ih16       the GRU's input matrix in 16 bits, the rest in 8
  hh16       the GRU's recurrent matrix in 16 bits, the rest in 8
  head16     the MLP head (fc1, fc2) in 16 bits, the rest in 8
  inp_ih16   the input layer and the GRU's input matrix in 16 bits, the rest in 8
  gru16      both GRU matrices in 16 bits
  all16      every weight in 16 bits

The students were finished through the all-8-bit graph; a run with a wider layer finishes through
its own graph, so these rows are what exporting the same students wider gives.

    python bench/pilots/wide_weights.py NAME SEED [SEED ...]

Writes bench/results/pilots/wide-weights-NAME-sSEEDS.json: every fold's confusion matrices and
agreement with its float model, flash the weights take, pooled MCC per seed, and paired differences
over seeds and animals (95% bootstrap over animals).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import requantize_kept_students  # noqa: E402

VARIANTS = {"fxp8": {}, "inp16": {"inp": 16}, "ih16": {"ih": 16}, "hh16": {"hh": 16}, "head16": {"fc1": 16, "fc2": 16},
            "inp_ih16": {"inp": 16, "ih": 16}, "gru16": {"ih": 16, "hh": 16}, "all16": {k: 16 for k in ("inp", "ih", "hh", "fc1", "fc2")}}
PAIRS = (*((v, "float") for v in VARIANTS), ("ih16", "fxp8"), ("hh16", "fxp8"), ("inp_ih16", "ih16"))


def widened(layer_bits: dict):
    """The run's calibration and per-row formats, nearest rounding (as the pilot was run), `layer_bits` wide."""
    from collar_kd.quant.quantizer import quantize_student

    return lambda student, x, arch, cfg: quantize_student(student, x, arch, cfg.method.weight_bits, cfg.method.calibration,
                                                          cfg.method.weight_formats, layer_bits, rounding="nearest")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="the bench-accuracy variant whose kept students to quantize (bench/work/accuracy-NAME-seed-S)")
    ap.add_argument("seeds", type=int, nargs="+")
    args = ap.parse_args()
    requantize_kept_students(args.name, args.seeds, {row: widened(bits) for row, bits in VARIANTS.items()}, PAIRS, "fxp8",
                             f"pilots/wide-weights-{args.name}-s{'-'.join(map(str, args.seeds))}.json", {"variants": VARIANTS})


if __name__ == "__main__":
    main()
