/* ckd_requant.h - the single rounding and saturation rule of collar-kd (docs/fixed-point.md).
 *
 * rq(v, s): s > 0 adds 2^(s-1) and shifts right (round half up); s < 0 multiplies by 2^-s;
 * sat16 clamps symmetrically to +-32767. All in 64 bits, so neither step can overflow.
 */
#ifndef CKD_REQUANT_H
#define CKD_REQUANT_H

#include <stdint.h>

#include "ckd_spec.h" /* CKD_ACT_MAX, CKD_Q15, ...: generated from collar_kd/quant/spec.py */

/* The rounding rule needs an arithmetic right shift of negative integers (GCC, Clang, armcc). */
typedef char ckd_arithmetic_shift_required[((-1) >> 1) == -1 ? 1 : -1];

static inline int64_t ckd_rq(int64_t v, int shift)
{
    if (shift > 0) {
        return (v + ((int64_t)1 << (shift - 1))) >> shift;
    }
    if (shift < 0) {
        return v * ((int64_t)1 << (-shift)); /* multiply: a left shift of a negative value is UB */
    }
    return v;
}

static inline int16_t ckd_sat16(int64_t v)
{
    if (v > CKD_ACT_MAX) {
        return (int16_t)CKD_ACT_MAX;
    }
    if (v < -CKD_ACT_MAX) {
        return (int16_t)-CKD_ACT_MAX;
    }
    return (int16_t)v;
}

static inline int32_t ckd_sat32(int64_t v)
{
    if (v > INT32_MAX) {
        return INT32_MAX;
    }
    if (v < -INT32_MAX) {
        return -INT32_MAX;
    }
    return (int32_t)v;
}

/* 32-bit saturation, for values known to fit int32 (every call site is argued in
 * docs/fixed-point.md). */
#if defined(__ARM_FEATURE_SAT)
/* SSAT (ARMv7-M, the M3 included) as asm: GCC 12's ACLE macro trips -Wsign-conversion. */
static inline int32_t ckd_ssat16(int32_t v)
{
    int32_t r;
    __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(v));
    return r;
}
#endif

static inline int16_t ckd_sat16_32(int32_t v)
{
#if defined(__ARM_FEATURE_SAT)
    v = ckd_ssat16(v); /* [-32768, 32767]; then the symmetric bound */
#else
    v = v > CKD_ACT_MAX ? CKD_ACT_MAX : v;
#endif
    v = v < -CKD_ACT_MAX ? -CKD_ACT_MAX : v;
    return (int16_t)v;
}

#endif /* CKD_REQUANT_H */
