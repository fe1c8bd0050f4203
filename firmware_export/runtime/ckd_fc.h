/* ckd_fc.h - dense layers: out = sat16(rq(bias + W * in, shift)), optional ReLU.
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
    const int32_t *bias;   /* rows, in the accumulator format; + 2^(shift-1) if shift is in the folded range */
    uint16_t rows;
    uint16_t cols;
    int8_t shift; /* f_W + f_in - f_out */
    uint8_t relu;
} ckd_fc_s8_params_t;

typedef struct {
    const int16_t *weights;
    const int32_t *bias;
    uint16_t rows;
    uint16_t cols;
    int8_t shift;
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
