/* ckd_act.h - sigmoid / tanh: Q12 input, Q15 output, 257-entry table, linear interpolation
 * (docs/fixed-point.md, "sigmoid and tanh"). */
#ifndef CKD_ACT_H
#define CKD_ACT_H

#include <stdint.h>

#include "ckd_spec.h" /* CKD_ACT_TABLE_SIZE, CKD_TABLE_SHIFT, ... */

/* The lookup, inline for the GRU's inner loop. x_q12 is an int16 value. */
static inline int16_t ckd_act_q15_inline(int32_t x_q12, const int16_t table[CKD_ACT_TABLE_SIZE])
{
    const uint32_t u = (uint32_t)(x_q12 + CKD_ACT_INPUT_OFFSET); /* 0 .. 65535 */
    const uint32_t i = u >> CKD_TABLE_SHIFT;                     /* 0 .. 255 */
    const int32_t w = (int32_t)(u & CKD_TABLE_WEIGHT_MASK);
    const int32_t t0 = table[i];
    const int32_t t1 = table[i + 1u];
    /* t0 + rq((t1 - t0) * w, CKD_TABLE_SHIFT) with the addition of half done first:
     * |(t1 - t0) * w| < 2^24, so nothing overflows. */
    return (int16_t)(t0 + (((t1 - t0) * w + (1 << (CKD_TABLE_SHIFT - 1))) >> CKD_TABLE_SHIFT));
}

int16_t ckd_act_q15(int16_t x_q12, const int16_t table[CKD_ACT_TABLE_SIZE]);

#endif /* CKD_ACT_H */
