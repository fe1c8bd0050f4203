/* ckd_act.c - table lookup with linear interpolation (docs/fixed-point.md, "sigmoid and tanh"). */
#include "ckd_act.h"
#include "ckd_requant.h"

int16_t ckd_act_q15(int16_t x_q12, const int16_t table[CKD_ACT_TABLE_SIZE])
{
    uint32_t u = (uint32_t)((int32_t)x_q12 + CKD_ACT_INPUT_OFFSET); /* 0 .. 65535 */
    uint32_t i = u >> CKD_TABLE_SHIFT;                               /* 0 .. 255 */
    int32_t w = (int32_t)(u & CKD_TABLE_WEIGHT_MASK);
    int32_t t0 = table[i];
    int32_t t1 = table[i + 1u];
    return (int16_t)(t0 + ckd_rq32((t1 - t0) * w, CKD_TABLE_SHIFT)); /* |(t1 - t0) * w| < 2^24 */
}
