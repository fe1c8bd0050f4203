/* ckd_fc_s16.c - dense layer with int16 weights and int16 activations, 64-bit accumulators.
 *
 * 16 x 16-bit products summed over a row can pass 2^31 (fan-in 32 is already 2^35 at worst), so
 * every row accumulates in 64 bits; the sums are exact, and so is every path below.
 *
 * Weights are stored row-major (the exporter's arrays are word-aligned). Rows are computed two at a
 * time, so every activation is loaded once per two rows. With CKD_USE_DSP on a core with the DSP
 * extension, SMLALD adds two 16 x 16 products to a 64-bit accumulator in one instruction. The
 * portable path (Cortex-M3, host) does one SMLAL (32 x 32 + 64) per product. Rows after the last
 * pair, column counts that are not a multiple of four (the input layer's three) and unaligned
 * arrays take the plain row loop.
 */
#include "ckd_fc.h"
#include "ckd_requant.h"

#if defined(CKD_USE_DSP) && defined(__ARM_FEATURE_DSP)
/* acc0 += row0 . x, acc1 += row1 . x over cols = 4 * groups, as one asm loop so that the schedule
 * is exactly this per four columns: LDRD the activation pairs (x0, x1), (x2, x3); LDRD row 0's two
 * weight pairs, two SMLALDs; LDRD row 1's, two SMLALDs. 7 instructions for 8 MACs, plus the
 * loop's two. %Q / %R name the low / high word of a 64-bit accumulator. */
static inline void ckd_rows2_s16(const int16_t *w0, const int16_t *w1, const int16_t *x, uint32_t groups, int64_t *acc0,
                                 int64_t *acc1)
{
    int64_t a0 = *acc0, a1 = *acc1;
    uint32_t q0, q1, x01, x23;
    __asm__("1:\n\t"
            "ldrd %[x01], %[x23], [%[x]], #8\n\t"
            "ldrd %[q0], %[q1], [%[w0]], #8\n\t"
            "smlald %Q[a0], %R[a0], %[q0], %[x01]\n\t"
            "smlald %Q[a0], %R[a0], %[q1], %[x23]\n\t"
            "ldrd %[q0], %[q1], [%[w1]], #8\n\t"
            "smlald %Q[a1], %R[a1], %[q0], %[x01]\n\t"
            "smlald %Q[a1], %R[a1], %[q1], %[x23]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [w0] "+r"(w0), [w1] "+r"(w1), [x] "+r"(x), [n] "+r"(groups),
              [q0] "=&r"(q0), [q1] "=&r"(q1), [x01] "=&r"(x01), [x23] "=&r"(x23)
            :
            : "cc", "memory");
    *acc0 = a0;
    *acc1 = a1;
}
#define CKD_S16_PAIRS_OK(p, in) \
    ((p)->cols % 4u == 0u && (p)->cols != 0u && (((uintptr_t)(p)->weights | (uintptr_t)(in)) & 3u) == 0u)
#else
/* The portable path: one SMLAL (32 x 32 + 64) per product, each activation loaded once for two rows. */
static inline void ckd_rows2_s16(const int16_t *w0, const int16_t *w1, const int16_t *x, uint32_t groups, int64_t *acc0,
                                 int64_t *acc1)
{
    int64_t a0 = *acc0, a1 = *acc1;
    for (const int16_t *end = x + 4u * groups; x != end; x += 4, w0 += 4, w1 += 4) {
        const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        a0 += (int64_t)w0[0] * x0;
        a1 += (int64_t)w1[0] * x0;
        a0 += (int64_t)w0[1] * x1;
        a1 += (int64_t)w1[1] * x1;
        a0 += (int64_t)w0[2] * x2;
        a1 += (int64_t)w1[2] * x2;
        a0 += (int64_t)w0[3] * x3;
        a1 += (int64_t)w1[3] * x3;
    }
    *acc0 = a0;
    *acc1 = a1;
}
#define CKD_S16_PAIRS_OK(p, in) ((p)->cols % 4u == 0u)
#endif

static int64_t ckd_row_s16(const int16_t *w, const int16_t *x, uint32_t cols, int64_t acc)
{
    for (uint32_t j = 0; j < cols; ++j) {
        acc += (int64_t)w[j] * x[j];
    }
    return acc;
}

/* Rows i (and i + 1 when the pair path applies) of bias + W . in, into a[0] (a[1]); returns how
 * many rows it computed. One call site per kernel keeps the code small. */
static uint32_t ckd_next_rows_s16(const ckd_fc_s16_params_t *p, const int16_t *in, uint32_t i, int pairs, int64_t a[2])
{
    const uint32_t cols = p->cols;
    const int16_t *w = p->weights + i * cols;
    a[0] = p->bias[i];
    if (pairs && i + 1u < p->rows) {
        a[1] = p->bias[i + 1u];
        ckd_rows2_s16(w, w + cols, in, cols / 4u, &a[0], &a[1]);
        return 2u;
    }
    a[0] = ckd_row_s16(w, in, cols, a[0]);
    return 1u;
}

/* sat16(rq(v, s)), the one rule, for a 64-bit accumulator. For 1 <= s <= 31 (every shift a 16-bit layer
 * of the collar students takes) in 32-bit operations: v + 2^(s-1) as one 64-bit add (|v| < 2^39, so it
 * cannot overflow), then the shifted value's high word (hi >> s) and low word; when the high word is
 * not the low word's sign, the value lies outside int32 and saturates like any value outside int16.
 * Other shifts take the general 64-bit rule. Both give the same integer (the kernel tests cover both). */
static inline int16_t ckd_rq_sat16_s64(int64_t v, int shift)
{
    if (shift >= 1 && shift <= 31) {
        const uint64_t u = (uint64_t)v + (uint32_t)(1u << (shift - 1)); /* a 32-bit constant: ADDS, ADC #0 */
        const uint32_t lo = (uint32_t)u, hi = (uint32_t)(u >> 32);
        const int32_t top = (int32_t)hi >> shift;
        const int32_t low = (int32_t)((lo >> shift) | (hi << (32 - shift)));
        if (top != (low >> 31)) {
            return (int16_t)(top < 0 ? -CKD_ACT_MAX : CKD_ACT_MAX);
        }
        return ckd_sat16_32(low);
    }
    return ckd_sat16(ckd_rq(v, shift));
}

void ckd_fc_s16(const ckd_fc_s16_params_t *p, const int16_t *in, int16_t *out)
{
    const int pairs = CKD_S16_PAIRS_OK(p, in);
    int64_t a[2];
    for (uint32_t i = 0, n; i < p->rows; i += n) {
        n = ckd_next_rows_s16(p, in, i, pairs, a);
        for (uint32_t k = 0; k < n; ++k) {
            const int16_t v = ckd_rq_sat16_s64(a[k], p->shift[i + k]);
            out[i + k] = (p->relu && v < 0) ? (int16_t)0 : v;
        }
    }
}

void ckd_fc_s16_acc(const ckd_fc_s16_params_t *p, const int16_t *in, int32_t *acc)
{
    const int pairs = CKD_S16_PAIRS_OK(p, in);
    int64_t a[2];
    for (uint32_t i = 0, n; i < p->rows; i += n) {
        n = ckd_next_rows_s16(p, in, i, pairs, a);
        for (uint32_t k = 0; k < n; ++k) {
            acc[i + k] = ckd_sat32(a[k]);
        }
    }
}
