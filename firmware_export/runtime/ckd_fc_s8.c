/* ckd_fc_s8.c - dense layer with int8 weights and int16 activations.
 *
 * Fan-in <= 256 and |bias| <= 2^29 keep the int32 accumulator exact (docs/fixed-point.md); the
 * exporter checks every row again after folding the rounding constant into its bias.
 *
 * Weight layout (written by collar_kd/export/layout.py): rows come in blocks of CKD_ROW_BLOCK = 4.
 * Inside a block, for every full group of four columns, the four rows' words follow each other,
 * each stored as (w0, w2, w1, w3); then the block's tail columns (cols % 4), row after row. Rows
 * after the last full block are stored one after the other, each as its groups then its tail.
 * One pointer walks a whole block, and every activation pair is loaded once per four rows.
 * On a core with the DSP extension (CKD_USE_DSP), SXTB16 of a (w0, w2, w1, w3) word gives the pair
 * (w0, w1) and SXTB16 of the word rotated by 8 gives (w2, w3), matching the activation pairs
 * (x0, x1) and (x2, x3) that SMLAD takes straight from memory. The portable path reads the same
 * layout; both give identical bits because the sums are exact.
 *
 * Rounding: every row has its own shift. When all of a layer's shifts lie in [CKD_FOLD_SHIFT_MIN,
 * CKD_FOLD_SHIFT_MAX] the exporter has stored bias + 2^(shift-1) and set `folded`, so rq(acc, shift)
 * is one arithmetic shift (by the row's shift, loaded once per row), then SSAT to 16 bits and one
 * clamp to -32767 (or to 0 for a ReLU layer); on the DSP path the clamp is done for two outputs at
 * once (SSUB16 + SEL). Other layers keep the plain bias and take the 64-bit rule of
 * ckd_requant.h. ckd_fc_s8_acc (logits) takes a plain bias and no shift.
 */
#include <string.h>

#include "ckd_fc.h"
#include "ckd_requant.h"

#if CKD_ROW_BLOCK != 4
#error "ckd_fc_s8.c computes blocks of four rows"
#endif

#if defined(__GNUC__)
#define CKD_ALWAYS_INLINE inline __attribute__((always_inline))
#define CKD_UNROLL8 _Pragma("GCC unroll 8")
#else
#define CKD_UNROLL8
#define CKD_ALWAYS_INLINE inline
#endif

#if defined(CKD_USE_DSP) && defined(__ARM_FEATURE_DSP)
/* One group of four columns for the four rows of a block, as one asm statement so that the
 * schedule is exactly this: LDRD the activation pairs (x0, x1), (x2, x3); LDRD two rows' weight words
 * (w0, w2, w1, w3); SXTB16 gives (w0, w1), SXTB16 ROR 8 gives (w2, w3); one SMLAD each. 19
 * instructions for 16 MACs. Both pointers advance; both must be word-aligned (checked by the caller). */
#define CKD_ROW_PAIR(a, b)                         \
    "sxtb16 %[t], %[q0]\n\t"                       \
    "smlad %[" a "], %[t], %[x01], %[" a "]\n\t"   \
    "sxtb16 %[t], %[q0], ror #8\n\t"               \
    "smlad %[" a "], %[t], %[x23], %[" a "]\n\t"   \
    "sxtb16 %[t], %[q1]\n\t"                       \
    "smlad %[" b "], %[t], %[x01], %[" b "]\n\t"   \
    "sxtb16 %[t], %[q1], ror #8\n\t"               \
    "smlad %[" b "], %[t], %[x23], %[" b "]\n\t"

#define CKD_GROUP(wp, xp, a0, a1, a2, a3)                                                        \
    do {                                                                                         \
        uint32_t q0_, q1_, x01_, x23_, t_;                                                       \
        __asm__("ldrd %[x01], %[x23], [%[x]], #8\n\t"                                            \
                "ldrd %[q0], %[q1], [%[w]], #8\n\t" CKD_ROW_PAIR("a0", "a1")                      \
                "ldrd %[q0], %[q1], [%[w]], #8\n\t" CKD_ROW_PAIR("a2", "a3")                      \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(wp), [x] "+r"(xp), \
                  [q0] "=&r"(q0_), [q1] "=&r"(q1_), [x01] "=&r"(x01_), [x23] "=&r"(x23_), [t] "=&r"(t_) \
                :                                                                                \
                : "memory");                                                                     \
    } while (0)

/* acc[r] += row r . x for the four rows of a block, cols = 4 * groups, eight groups (the GRU's 32
 * columns) per unrolled step. */
static CKD_ALWAYS_INLINE void ckd_block_s8(const int8_t *w, const int16_t *x, uint32_t groups, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (uint32_t c = groups / 8u; c != 0u; --c) {
        CKD_UNROLL8
        for (uint32_t g = 0; g < 8u; ++g) {
            CKD_GROUP(w, x, a0, a1, a2, a3);
        }
    }
    for (uint32_t g = groups % 8u; g != 0u; --g) {
        CKD_GROUP(w, x, a0, a1, a2, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The four outputs of a block, two per word: SSAT each, pack, then max(., lo) on both halves at once
 * (SSUB16 sets the GE flags that SEL reads); lo2 holds lo in both halves. */
static inline uint32_t ckd_pack_clamp(int32_t a, int32_t b, uint32_t lo2)
{
    uint32_t r, t;
    __asm__("ssat %0, #16, %2\n\t"
            "ssat %1, #16, %3\n\t"
            "pkhbt %0, %0, %1, lsl #16\n\t"
            "ssub16 %1, %0, %4\n\t"
            "sel %0, %0, %4"
            : "=&r"(r), "=&r"(t)
            : "r"(a), "r"(b), "r"(lo2)
            : "cc");
    return r;
}

static CKD_ALWAYS_INLINE void ckd_store4(int16_t *out, const int32_t acc[4], const int8_t *shift, int32_t lo)
{
    const uint32_t lo2 = ((uint32_t)lo & 0xFFFFu) * 0x10001u;
    const uint32_t p01 = ckd_pack_clamp(acc[0] >> shift[0], acc[1] >> shift[1], lo2);
    const uint32_t p23 = ckd_pack_clamp(acc[2] >> shift[2], acc[3] >> shift[3], lo2);
    memcpy(out, &p01, 4); /* STR: unaligned stores are allowed on v7E-M */
    memcpy(out + 2, &p23, 4);
}
#else
/* The portable path (Cortex-M3, host): one multiply-accumulate per product, written one after the
 * other so that each compiles to LDRSB + MLA; the activations are loaded once per block. */
#define CKD_MAC4(a, w, x0, x1, x2, x3) \
    do {                                \
        (a) += (w)[0] * (x0);           \
        (a) += (w)[2] * (x1);           \
        (a) += (w)[1] * (x2);           \
        (a) += (w)[3] * (x3);           \
    } while (0)

static CKD_ALWAYS_INLINE void ckd_block_s8(const int8_t *w, const int16_t *x, uint32_t groups, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (const int16_t *end = x + 4u * groups; x != end; x += 4) {
        const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        CKD_MAC4(a0, w, x0, x1, x2, x3);
        CKD_MAC4(a1, w + 4, x0, x1, x2, x3);
        CKD_MAC4(a2, w + 8, x0, x1, x2, x3);
        CKD_MAC4(a3, w + 12, x0, x1, x2, x3);
        w += 16;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* max(sat16(acc >> shift), lo), bias already folded: lo = -32767, or 0 for ReLU. */
static inline int16_t ckd_out_folded(int32_t acc, int shift, int32_t lo)
{
    const int32_t v = acc >> shift;
#if defined(__ARM_FEATURE_SAT)
    const int32_t s = ckd_ssat16(v); /* [-32768, 32767] */
#else
    const int32_t s = v > CKD_ACT_MAX ? CKD_ACT_MAX : v;
#endif
    return (int16_t)(s < lo ? lo : s);
}

#if !(defined(CKD_USE_DSP) && defined(__ARM_FEATURE_DSP))
static CKD_ALWAYS_INLINE void ckd_store4(int16_t *out, const int32_t acc[4], const int8_t *shift, int32_t lo)
{
    out[0] = ckd_out_folded(acc[0], shift[0], lo);
    out[1] = ckd_out_folded(acc[1], shift[1], lo);
    out[2] = ckd_out_folded(acc[2], shift[2], lo);
    out[3] = ckd_out_folded(acc[3], shift[3], lo);
}
#endif

/* The same for the input layer's three columns: a block is its rows' (x, y, z) weights in turn. */
static CKD_ALWAYS_INLINE void ckd_block3_s8(const int8_t *w, int32_t x0, int32_t x1, int32_t x2, int32_t acc[4])
{
    acc[0] += w[0] * x0 + w[1] * x1 + w[2] * x2;
    acc[1] += w[3] * x0 + w[4] * x1 + w[5] * x2;
    acc[2] += w[6] * x0 + w[7] * x1 + w[8] * x2;
    acc[3] += w[9] * x0 + w[10] * x1 + w[11] * x2;
}

/* Where W[i][j] is stored (the layout above), for the compact general path. */
static uint32_t ckd_s8_index(uint32_t rows, uint32_t cols, uint32_t i, uint32_t j)
{
    const uint32_t full = cols & ~3u, tail = cols - full;
    const uint32_t in_word = ((j & 1u) << 1) | ((j >> 1) & 1u); /* column k of a group sits at (0, 2, 1, 3)[k] */
    if (i < (rows & ~3u)) {
        const uint32_t block = (i & ~3u) * cols, r = i & 3u;
        return j < full ? block + (j & ~3u) * 4u + r * 4u + in_word : block + full * 4u + r * tail + (j - full);
    }
    return i * cols + (j < full ? (j & ~3u) + in_word : j);
}

/* bias[i] + row i . in, by index: the path for logits, rows after the last block, other column
 * counts and shifts outside the folded range. Small code, about ten instructions per MAC; the
 * model uses it for the logits only. */
static int32_t ckd_row_s8(const ckd_fc_s8_params_t *p, const int16_t *in, uint32_t i)
{
    int32_t acc = p->bias[i];
    for (uint32_t j = 0; j < p->cols; ++j) {
        acc += p->weights[ckd_s8_index(p->rows, p->cols, i, j)] * in[j];
    }
    return acc;
}

/* The 64-bit rule, for shifts outside the folded range (bias not folded). */
static inline int16_t ckd_out_round(int32_t acc, int shift, int relu)
{
    const int16_t v = ckd_sat16(ckd_rq(acc, shift));
    return (relu && v < 0) ? (int16_t)0 : v;
}

/* The fast path: whole blocks of four rows, bias folded. Two copies, for the input layer's three
 * columns and for any multiple of four columns; lo is -32767, or 0 for a ReLU layer. */
static CKD_ALWAYS_INLINE void ckd_fc_s8_blocks(const ckd_fc_s8_params_t *p, const int16_t *in, int16_t *out,
                                               const uint32_t cols, const int32_t lo)
{
    const int8_t *w = p->weights, *shift = p->shift;
    const int32_t *bias = p->bias;
    for (uint32_t b = p->rows / 4u; b != 0u; --b) {
        int32_t acc[4] = {bias[0], bias[1], bias[2], bias[3]};
        if (cols == 3u) {
            ckd_block3_s8(w, in[0], in[1], in[2], acc);
        } else {
            ckd_block_s8(w, in, cols / 4u, acc);
        }
        ckd_store4(out, acc, shift, lo);
        out += 4;
        w += 4u * cols;
        bias += 4;
        shift += 4;
    }
}

void ckd_fc_s8(const ckd_fc_s8_params_t *p, const int16_t *in, int16_t *out)
{
    const int relu = p->relu;
    const uint32_t cols = p->cols;
    uint32_t i = 0;
    if (p->folded) {
        const int32_t lo = relu ? 0 : -CKD_ACT_MAX;
        if (((uintptr_t)p->weights & 3u) != 0u) {
            /* not the exporter's word-aligned array: the general path below */
        } else if (cols == 3u) {
            ckd_fc_s8_blocks(p, in, out, 3u, lo);
            i = p->rows & ~3u;
        } else if (cols % 4u == 0u && ((uintptr_t)in & 3u) == 0u) {
            ckd_fc_s8_blocks(p, in, out, cols, lo);
            i = p->rows & ~3u;
        }
        for (; i < p->rows; ++i) {
            out[i] = ckd_out_folded(ckd_row_s8(p, in, i), p->shift[i], lo);
        }
        return;
    }
    for (; i < p->rows; ++i) {
        out[i] = ckd_out_round(ckd_row_s8(p, in, i), p->shift[i], relu);
    }
}

void ckd_fc_s8_acc(const ckd_fc_s8_params_t *p, const int16_t *in, int32_t *acc)
{
    for (uint32_t i = 0; i < p->rows; ++i) {
        acc[i] = ckd_row_s8(p, in, i);
    }
}
