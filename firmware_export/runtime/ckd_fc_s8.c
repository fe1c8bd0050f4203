/* ckd_fc_s8.c - dense layer with int8 weights and int16 activations.
 *
 * Fan-in <= 256 and |bias| <= 2^29 keep the int32 accumulator exact (docs/fixed-point.md).
 *
 * Weight layout: within each row, every full group of four columns is stored as
 * (w0, w2, w1, w3); a tail of fewer than four columns is stored in order. On a core with the
 * DSP extension (CKD_USE_DSP), SXTB16 of such a word gives the pair (w0, w1) and SXTB16 of the
 * word rotated by 8 gives (w2, w3), matching the activation pairs (x0, x1) and (x2, x3) that
 * SMLAD takes straight from memory. The portable path reads the same layout, so both paths
 * give identical bits (the sums are exact).
 */
#include "ckd_fc.h"
#include "ckd_requant.h"

#if defined(CKD_USE_DSP) && defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#include <string.h>

static int32_t ckd_dot_s8(const int8_t *w, const int16_t *x, uint16_t n, int32_t acc)
{
    uint16_t j = 0;
    for (; (uint16_t)(j + 4u) <= n; j = (uint16_t)(j + 4u)) {
        uint32_t wq;
        int8x4_t w02, w13;
        int16x2_t x01, x23;
        memcpy(&wq, w + j, 4); /* one LDR; unaligned access is allowed on v7E-M */
        memcpy(&w02, &wq, 4);
        wq = (wq >> 8) | (wq << 24); /* ROR #8, folded into SXTB16 by the compiler */
        memcpy(&w13, &wq, 4);
        memcpy(&x01, x + j, 4);
        memcpy(&x23, x + j + 2, 4);
        acc = __smlad(__sxtb16(w02), x01, acc);
        acc = __smlad(__sxtb16(w13), x23, acc);
    }
    for (; j < n; ++j) {
        acc += (int32_t)w[j] * (int32_t)x[j];
    }
    return acc;
}
#else
static int32_t ckd_dot_s8(const int8_t *w, const int16_t *x, uint16_t n, int32_t acc)
{
    uint16_t j = 0;
    for (; (uint16_t)(j + 4u) <= n; j = (uint16_t)(j + 4u)) {
        acc += (int32_t)w[j] * x[j] + (int32_t)w[j + 2u] * x[j + 1u] + (int32_t)w[j + 1u] * x[j + 2u] +
               (int32_t)w[j + 3u] * x[j + 3u];
    }
    for (; j < n; ++j) {
        acc += (int32_t)w[j] * (int32_t)x[j];
    }
    return acc;
}
#endif

void ckd_fc_s8_acc(const ckd_fc_s8_params_t *p, const int16_t *in, int32_t *acc)
{
    const int8_t *w = p->weights;
    for (uint16_t i = 0; i < p->rows; ++i, w += p->cols) {
        acc[i] = ckd_dot_s8(w, in, p->cols, p->bias[i]);
    }
}

void ckd_fc_s8(const ckd_fc_s8_params_t *p, const int16_t *in, int16_t *out)
{
    const int8_t *w = p->weights;
    for (uint16_t i = 0; i < p->rows; ++i, w += p->cols) {
        int16_t v = ckd_sat16(ckd_rq(ckd_dot_s8(w, in, p->cols, p->bias[i]), p->shift));
        out[i] = (p->relu && v < 0) ? (int16_t)0 : v;
    }
}
