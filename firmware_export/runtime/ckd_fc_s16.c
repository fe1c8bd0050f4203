/* ckd_fc_s16.c - dense layer with int16 weights and int16 activations, 64-bit accumulators.
 * With CKD_USE_DSP: SMLALD, two 16x16 products per instruction into 64 bits (identical bits). */
#include "ckd_fc.h"
#include "ckd_requant.h"

#if defined(CKD_USE_DSP) && defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#include <string.h>

static int64_t ckd_dot_s16(const int16_t *w, const int16_t *x, uint16_t n, int64_t acc)
{
    uint16_t j = 0;
    for (; (uint16_t)(j + 2u) <= n; j = (uint16_t)(j + 2u)) {
        uint32_t wp, xp;
        memcpy(&wp, w + j, 4);
        memcpy(&xp, x + j, 4);
        acc = __smlald((int16x2_t)wp, (int16x2_t)xp, acc);
    }
    for (; j < n; ++j) {
        acc += (int64_t)w[j] * x[j];
    }
    return acc;
}
#else
static int64_t ckd_dot_s16(const int16_t *w, const int16_t *x, uint16_t n, int64_t acc)
{
    for (uint16_t j = 0; j < n; ++j) {
        acc += (int64_t)((int32_t)w[j] * (int32_t)x[j]);
    }
    return acc;
}
#endif

void ckd_fc_s16_acc(const ckd_fc_s16_params_t *p, const int16_t *in, int32_t *acc)
{
    const int16_t *w = p->weights;
    for (uint32_t i = 0; i < p->rows; ++i, w += p->cols) {
        acc[i] = ckd_sat32(ckd_dot_s16(w, in, p->cols, p->bias[i]));
    }
}

void ckd_fc_s16(const ckd_fc_s16_params_t *p, const int16_t *in, int16_t *out)
{
    const int16_t *w = p->weights;
    for (uint32_t i = 0; i < p->rows; ++i, w += p->cols) {
        int16_t v = ckd_sat16(ckd_rq(ckd_dot_s16(w, in, p->cols, p->bias[i]), p->shift[i]));
        out[i] = (p->relu && v < 0) ? (int16_t)0 : v;
    }
}
