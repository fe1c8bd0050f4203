/* ckd_fc.h - dense layers: out[i] = sat16(rq(bias[i] + W[i] * in, shift[i])), optional ReLU.
 * Every output row has its own weight format and so its own shift (power-of-two per-row scales).
 * One parameter struct per weight width; the caller owns every buffer. */
#ifndef CKD_FC_H
#define CKD_FC_H

#include <stdint.h>

/* The generated weight arrays are word-aligned: ckd_fc_s8 reads a block's weights with LDM. */
#if defined(__GNUC__)
#define CKD_ALIGN4 __attribute__((aligned(4)))
#else
#define CKD_ALIGN4
#endif

typedef struct {
    const int8_t *weights; /* rows x cols in the block order of ckd_fc_s8.c; word-aligned for the fast path */
    const int32_t *bias;   /* rows, each in its row's accumulator format; + 2^(shift[i]-1) if folded */
    const int8_t *shift;   /* rows: f_W[i] + f_in - f_out (unused by ckd_fc_s8_acc) */
    uint16_t rows;
    uint16_t cols;
    uint8_t folded; /* 1: every shift is in [CKD_FOLD_SHIFT_MIN, CKD_FOLD_SHIFT_MAX] and the bias carries the constant */
    uint8_t relu;
} ckd_fc_s8_params_t;

typedef struct {
    const int16_t *weights;
    const int32_t *bias;
    const int8_t *shift; /* rows (unused by ckd_fc_s16_acc) */
    uint16_t rows;
    uint16_t cols;
    uint8_t folded; /* always 0: 16-bit layers keep the plain bias */
    uint8_t relu;
} ckd_fc_s16_params_t;

/* int16 outputs, re-quantized and saturated (int32 accumulators; see the overflow argument). */
void ckd_fc_s8(const ckd_fc_s8_params_t *p, const int16_t *in, int16_t *out);
/* The raw accumulators (logits): no rounding. */
void ckd_fc_s8_acc(const ckd_fc_s8_params_t *p, const int16_t *in, int32_t *acc);

/* 16-bit weights accumulate in 64 bits; logits are saturated to int32. */
void ckd_fc_s16(const ckd_fc_s16_params_t *p, const int16_t *in, int16_t *out);
void ckd_fc_s16_acc(const ckd_fc_s16_params_t *p, const int16_t *in, int32_t *acc);

#endif /* CKD_FC_H */
