"""Constants of the integer semantics written in docs/fixed-point.md (shared by quantizer,
simulator and exporter; the C runtime has the same numbers in ckd_requant.h)."""

ACT_MAX = 32767  # int16 activations saturate symmetrically
HIDDEN_FRAC = 15  # the GRU state is Q15: |h| <= 1 always
GATE_OUT_FRAC = 15  # sigmoid / tanh outputs
GATE_IN_FRAC = 12  # sigmoid / tanh inputs: Q12, range [-8, 8)
TABLE_INTERVALS = 256  # table points at -8 + i/16
TABLE_SHIFT = 8  # 16-bit input offset -> (index, weight): 8 bits of interpolation weight
MAX_FAN_IN = 256  # keeps 8-bit accumulators inside int32 (see the overflow argument)
# Weight word lengths of the quantizer and simulator: 2 (ternary: -1, 0, +1) to 8 share the 8-bit
# integer path (values stored in int8, 32-bit accumulators); 16 has its own. The C export keeps
# 8 and 16 only.
WEIGHT_BITS = (2, 3, 4, 5, 6, 7, 8, 16)
EXPORT_WEIGHT_BITS = (8, 16)
BIAS_LIMIT = {**{b: 2**29 for b in range(2, 9)}, 16: 2**31 - 1}


def weight_max(bits: int) -> int:
    return 2 ** (bits - 1) - 1
