"""The integer semantics of docs/fixed-point.md, written once.

The quantizer, QAT, the simulator and the footprint estimate read these names; `spec_header()`
generates them into `ckd_spec.h`, which the C runtime includes (the exporter writes it beside
the runtime). A test checks that this module, the generated header and the document agree.
"""

from __future__ import annotations

ACT_BITS = 16
ACT_MAX = 2 ** (ACT_BITS - 1) - 1  # int16 activations saturate symmetrically: +-32767
HIDDEN_FRAC = 15  # the GRU state is Q15: |h| <= 1 always
GATE_OUT_FRAC = 15  # sigmoid / tanh outputs, Q15
GATE_IN_FRAC = 12  # sigmoid / tanh inputs, Q12: range [-8, 8)
# The activation tables: TABLE_INTERVALS + 1 Q15 points over [-8, 8]. A Q12 input plus
# ACT_INPUT_OFFSET is a 16-bit unsigned offset; its top bits index the table, its low TABLE_SHIFT
# bits are the interpolation weight.
TABLE_SHIFT = 8
TABLE_INTERVALS = 2 ** (ACT_BITS - TABLE_SHIFT)  # 256
TABLE_SIZE = TABLE_INTERVALS + 1  # 257
ACT_INPUT_OFFSET = 2 ** (ACT_BITS - 1)  # 32768
TABLE_WEIGHT_MASK = 2**TABLE_SHIFT - 1  # 255
TABLE_MIN = -ACT_INPUT_OFFSET / 2**GATE_IN_FRAC  # -8.0: the value of table point 0
TABLE_POINTS_PER_UNIT = 2**GATE_IN_FRAC / 2**TABLE_SHIFT  # 16 points per 1.0 of input
MAX_FAN_IN = 256  # keeps 8-bit accumulators inside int32 (see the overflow argument)
# Re-quantization shifts the int8_t shift fields and the 64-bit rounding path handle.
SHIFT_MIN, SHIFT_MAX = -15, 47
# 8-bit dense layers whose shift lies in [FOLD_SHIFT_MIN, FOLD_SHIFT_MAX] get the rounding constant
# 2^(shift-1) added to their stored bias by the exporter, so rq is one arithmetic shift on the
# device; the exporter proves per row that the folded accumulator still fits int32.
FOLD_SHIFT_MIN, FOLD_SHIFT_MAX = 1, 31
# int8 weight matrices are stored in blocks of ROW_BLOCK rows (ckd_fc_s8.c, export/layout.py).
ROW_BLOCK = 4
# Weight word lengths of the quantizer and simulator: 2 (ternary: -1, 0, +1) to 8 share the 8-bit
# integer path (values stored in int8, 32-bit accumulators); 16 has its own. The C export keeps
# 8 and 16 only.
WEIGHT_BITS = (2, 3, 4, 5, 6, 7, 8, 16)
EXPORT_WEIGHT_BITS = (8, 16)
BIAS_LIMIT = {**{b: 2**29 for b in range(2, 9)}, 16: 2**31 - 1}
# How fractional lengths are chosen from calibration statistics (offline, floating point).
CALIBRATIONS = ("range", "mse")
# Weight formats: "row" gives every output row of a layer its own fractional length (and so its
# own re-quantization shift; CMSIS-NN's per-channel scales, in powers of two), "tensor" one per
# layer. The logits layer is always one format: its rows are compared by argmax.
WEIGHT_FORMATS = ("row", "tensor")
# How weights meet their grid: each to its nearest point, or GPTQ-style with the error of every
# column compensated in the ones after it and in the bias (quantizer.compensated_rounding).
ROUNDINGS = ("nearest", "compensated")
ROW_FORMAT_LAYERS = ("inp", "ih", "hh", "fc1")
# The student's weight layers, in order: input layer, the GRU's input and recurrent matrices, the MLP
# head. Each may have its own word length (method.layer_weight_bits); its kernel follows it (ckd_model.c).
LAYERS = ("inp", "ih", "hh", "fc1", "fc2")
INPUTS = 3  # tri-axial accelerometer


def weight_max(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def gate_shift(frac_g: int) -> int:
    """Shift from the gate pre-activation format Q f_g to the table input format Q12."""
    return frac_g - GATE_IN_FRAC


def state_bytes(hidden: int, head: int) -> int:
    """sizeof(ckd_state_t): h, a, gi (3H), gh (3H), y (head) as int16, then a uint32 step count."""
    int16s = 2 * (hidden + hidden + 3 * hidden + 3 * hidden + head)
    return -(-int16s // 4) * 4 + 4


# What ckd_spec.h defines, in order: (C name, value, comment).
C_CONSTANTS = (
    ("CKD_ACT_MAX", ACT_MAX, "int16 activations saturate to +-CKD_ACT_MAX"),
    ("CKD_HIDDEN_FRAC", HIDDEN_FRAC, "GRU state format Q15"),
    ("CKD_Q15", GATE_OUT_FRAC, "sigmoid / tanh output format"),
    ("CKD_GATE_IN_FRAC", GATE_IN_FRAC, "sigmoid / tanh input format"),
    ("CKD_ACT_TABLE_SIZE", TABLE_SIZE, "points per activation table"),
    ("CKD_TABLE_SHIFT", TABLE_SHIFT, "interpolation weight bits"),
    ("CKD_TABLE_WEIGHT_MASK", TABLE_WEIGHT_MASK, "low bits of the offset input: the weight"),
    ("CKD_ACT_INPUT_OFFSET", ACT_INPUT_OFFSET, "Q12 input + offset = unsigned table position"),
    ("CKD_MAX_FAN_IN", MAX_FAN_IN, "largest fan-in whose 8-bit accumulators fit int32"),
    ("CKD_SHIFT_MIN", SHIFT_MIN, "smallest re-quantization shift"),
    ("CKD_SHIFT_MAX", SHIFT_MAX, "largest re-quantization shift"),
    ("CKD_FOLD_SHIFT_MIN", FOLD_SHIFT_MIN, "8-bit layers with a shift from here ..."),
    ("CKD_FOLD_SHIFT_MAX", FOLD_SHIFT_MAX, "... to here store their bias with 2^(shift-1) added"),
    ("CKD_ROW_BLOCK", ROW_BLOCK, "int8 weight rows are stored in blocks of this many"),
)


def spec_header() -> str:
    lines = [
        "/* ckd_spec.h - the integer semantics of docs/fixed-point.md; generated by `collar-kd export`",
        " * from collar_kd/quant/spec.py (the one place these numbers are written). Do not edit. */",
        "#ifndef CKD_SPEC_H",
        "#define CKD_SPEC_H",
        "",
        *[f"#define {name} {value}{'u' if name in _UNSIGNED else ''} /* {why} */" for name, value, why in C_CONSTANTS],
        "",
        "#endif /* CKD_SPEC_H */",
        "",
    ]
    return "\n".join(lines)


_UNSIGNED = {"CKD_TABLE_WEIGHT_MASK"}
