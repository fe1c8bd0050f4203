/* ckd_frame.c - see ckd_frame.h. */
#include "ckd_frame.h"

#include "ckd_requant.h"

#define CKD_FRAME_ONE 32768 /* 1.0 in Q15 */
/* 1/64 g in the input format: the smallest mean x-y that is a heading (MIN_HEADING_G). */
#define CKD_FRAME_MIN ((int64_t)1 << (CKD_FRAC_X >= 6 ? CKD_FRAC_X - 6 : 0))

void ckd_frame_init(ckd_frame_t *f)
{
    f->sum[0] = 0;
    f->sum[1] = 0;
    f->n = 0;
    f->c = CKD_FRAME_ONE;
    f->s = 0;
}

void ckd_frame_add(ckd_frame_t *f, const int16_t x[CKD_INPUTS])
{
    if (f->n == UINT32_MAX) {
        return;
    }
    f->sum[0] += x[0];
    f->sum[1] += x[1];
    f->n += 1u;
}

/* floor(sqrt(v)), digit by digit: 16 rounds, no division. */
static uint32_t ckd_isqrt32(uint32_t v)
{
    uint32_t r = 0;
    uint32_t bit = 1u << 30;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

void ckd_frame_update(ckd_frame_t *f)
{
    const int64_t ax = f->sum[0] < 0 ? -f->sum[0] : f->sum[0];
    const int64_t ay = f->sum[1] < 0 ? -f->sum[1] : f->sum[1];
    const int64_t m = ax > ay ? ax : ay;
    int shift = 0;
    while ((m >> shift) >= 32768) { /* the sums' direction in 16 bits: squares fit 32 */
        ++shift;
    }
    const int32_t x = (int32_t)(f->sum[0] >> shift); /* arithmetic shift (ckd_requant.h) */
    const int32_t y = (int32_t)(f->sum[1] >> shift);
    const uint32_t r = ckd_isqrt32((uint32_t)(x * x) + (uint32_t)(y * y));
    /* |sum x-y| < n / 64 g, i.e. r 2^shift < n CKD_FRAME_MIN: no heading, no turn */
    if (r == 0u || ((int64_t)r << shift) < (int64_t)f->n * CKD_FRAME_MIN) {
        f->c = CKD_FRAME_ONE;
        f->s = 0;
        return;
    }
    /* |x|, |y| <= 2^15 and <= r: the products fit 31 bits and |c|, |s| <= 1.0 (C division truncates) */
    f->c = (x * CKD_FRAME_ONE) / (int32_t)r;
    f->s = (y * CKD_FRAME_ONE) / (int32_t)r;
}

void ckd_frame_turn(const ckd_frame_t *f, const int16_t in[CKD_INPUTS], int16_t out[CKD_INPUTS])
{
    const int64_t x = in[0];
    const int64_t y = in[1];
    out[0] = ckd_sat16(ckd_rq((int64_t)f->c * x + (int64_t)f->s * y, 15));
    out[1] = ckd_sat16(ckd_rq((int64_t)f->c * y - (int64_t)f->s * x, 15));
    out[2] = in[2];
}
