/* ckd_fc_s8.c - dense layer with int8 weights and int16 activations.
 *
 * Fan-in <= 256 and |bias| <= 2^29 keep the int32 accumulator exact (docs/fixed-point.md).
 *
 * Weight layout: within each row, every full group of four columns is stored as
 * (w0, w2, w1, w3); a tail of fewer than four columns is stored in order. On a core with the
 * DSP extension (CKD_USE_DSP), SXTB16 of such a word gives the pair (w0, w1) and SXTB16 of the
 * word rotated by 8 gives (w2, w3), matching the activation pairs (x0, x1) and (x2, x3) that
 * SMLAD takes straight from memory. The portable path reads the same layout, so both paths
 * give identical bits (the sums are exact). Two rows are computed together so that every
 * activation pair loaded serves two SMLADs.
 */
#include <string.h>

#include "ckd_fc.h"
#include "ckd_requant.h"

#if defined(CKD_USE_DSP) && defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

static inline uint32_t ckd_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR: unaligned access is allowed on v7E-M */
    return v;
}

/* SXTB16 with its built-in rotation (GCC 12's ACLE has no intrinsic for the rotated form). */
static inline int16x2_t ckd_sxtb16_ror8(uint32_t v)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* Two rows at once: acc[0] += w_a . x, acc[1] += w_b . x over the full groups of four. */
static inline void ckd_dot2_s8(const int8_t *wa, const int8_t *wb, const int16_t *x, uint32_t groups, int32_t acc[2])
{
    int32_t a = acc[0], b = acc[1];
    for (uint32_t g = 0; g < groups; ++g) {
        int16x2_t x01 = (int16x2_t)ckd_load32(x);
        int16x2_t x23 = (int16x2_t)ckd_load32(x + 2);
        uint32_t qa = ckd_load32(wa);
        uint32_t qb = ckd_load32(wb);
        a = __smlad(__sxtb16((int8x4_t)qa), x01, a);
        b = __smlad(__sxtb16((int8x4_t)qb), x01, b);
        a = __smlad(ckd_sxtb16_ror8(qa), x23, a);
        b = __smlad(ckd_sxtb16_ror8(qb), x23, b);
        x += 4;
        wa += 4;
        wb += 4;
    }
    acc[0] = a;
    acc[1] = b;
}
#else
static inline void ckd_dot2_s8(const int8_t *wa, const int8_t *wb, const int16_t *x, uint32_t groups, int32_t acc[2])
{
    int32_t a = acc[0], b = acc[1];
    for (uint32_t g = 0; g < groups; ++g) {
        a += (int32_t)wa[0] * x[0] + (int32_t)wa[2] * x[1] + (int32_t)wa[1] * x[2] + (int32_t)wa[3] * x[3];
        b += (int32_t)wb[0] * x[0] + (int32_t)wb[2] * x[1] + (int32_t)wb[1] * x[2] + (int32_t)wb[3] * x[3];
        x += 4;
        wa += 4;
        wb += 4;
    }
    acc[0] = a;
    acc[1] = b;
}
#endif

static inline int32_t ckd_tail_s8(const int8_t *w, const int16_t *x, uint32_t n, int32_t acc)
{
    for (uint32_t j = 0; j < n; ++j) {
        acc += (int32_t)w[j] * x[j];
    }
    return acc;
}

static inline int16_t ckd_out16(int32_t acc, int shift, int relu)
{
    int16_t v = ckd_requant16(acc, shift);
    return (relu && v < 0) ? (int16_t)0 : v;
}

/* acc[i] = bias[i] + row i . in, for every row (rows are taken in pairs; an odd last row is
 * paired with itself). */
void ckd_fc_s8_acc(const ckd_fc_s8_params_t *p, const int16_t *in, int32_t *acc)
{
    const uint32_t cols = p->cols, groups = cols / 4u, full = groups * 4u, tail = cols - full;
    const int8_t *w = p->weights;
    const int32_t *bias = p->bias;
    for (uint32_t rows = p->rows; rows > 0; rows -= (rows >= 2u ? 2u : 1u)) {
        const int8_t *wb = rows >= 2u ? w + cols : w;
        int32_t two[2] = {bias[0], rows >= 2u ? bias[1] : 0};
        ckd_dot2_s8(w, wb, in, groups, two);
        *acc++ = ckd_tail_s8(w + full, in + full, tail, two[0]);
        if (rows >= 2u) {
            *acc++ = ckd_tail_s8(wb + full, in + full, tail, two[1]);
        }
        w += 2u * cols;
        bias += 2;
    }
}

void ckd_fc_s8(const ckd_fc_s8_params_t *p, const int16_t *in, int16_t *out)
{
    const uint32_t cols = p->cols, groups = cols / 4u, full = groups * 4u, tail = cols - full;
    const int shift = p->shift, relu = p->relu;
    const int8_t *w = p->weights;
    const int32_t *bias = p->bias;
    uint32_t rows = p->rows;
    for (; rows >= 2u; rows -= 2u) {
        int32_t two[2] = {bias[0], bias[1]};
        ckd_dot2_s8(w, w + cols, in, groups, two);
        if (tail != 0u) {
            two[0] = ckd_tail_s8(w + full, in + full, tail, two[0]);
            two[1] = ckd_tail_s8(w + cols + full, in + full, tail, two[1]);
        }
        out[0] = ckd_out16(two[0], shift, relu);
        out[1] = ckd_out16(two[1], shift, relu);
        out += 2;
        w += 2u * cols;
        bias += 2;
    }
    if (rows != 0u) {
        int32_t two[2] = {bias[0], 0};
        ckd_dot2_s8(w, w, in, groups, two);
        out[0] = ckd_out16(ckd_tail_s8(w + full, in + full, tail, two[0]), shift, relu);
    }
}
