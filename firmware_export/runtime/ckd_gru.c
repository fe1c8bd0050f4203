/* ckd_gru.c - r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z),
 * n = tanh(gi_n + r * gh_n), h' = n + z * (h - n)   [== (1 - z) n + z h; 1.0 is not Q15]. */
#include "ckd_gru.h"
#include "ckd_act.h"
#include "ckd_requant.h"

#if defined(__GNUC__)
#define CKD_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define CKD_ALWAYS_INLINE inline
#endif

/* rq(v, gate_shift) in 32 bits for |v| <= 65534 (a sum of two int16 values), whatever the shift
 * in [CKD_SHIFT_MIN, CKD_SHIFT_MAX]: (v * up + half) >> down, set up once per call.
 *  - shift < 0: up = 2^-shift <= 2^15, and |v| * 2^15 < 2^31.
 *  - shift > 0: half = 2^(down-1). Every shift of 17 or more gives 0 for such v (v + 2^(s-1) lies in
 *    [0, 2^s)), so shifts above 30 are taken as 30, which keeps half inside int32 and changes no bit. */
typedef struct {
    int32_t up, half;
    int down;
} ckd_gate_rq_t;

static ckd_gate_rq_t ckd_gate_rq(int shift)
{
    ckd_gate_rq_t g = {1, 0, 0};
    if (shift < 0) {
        g.up = (int32_t)1 << -shift;
    } else if (shift > 0) {
        g.down = shift > 30 ? 30 : shift;
        g.half = (int32_t)1 << (g.down - 1);
    }
    return g;
}

static CKD_ALWAYS_INLINE void ckd_gru_units(const ckd_gru_params_t *p, const int16_t *gi, const int16_t *gh, int16_t *h,
                                            int16_t *r, int16_t *z, int16_t *n, const int trace)
{
    const uint32_t H = p->hidden;
    const ckd_gate_rq_t g = ckd_gate_rq(p->gate_shift);
    const int16_t *sig = p->sigmoid_table, *tnh = p->tanh_table;
    for (uint32_t i = 0; i < H; ++i) {
        const int32_t rv = ckd_act_q15_inline(ckd_sat16_32(((gi[i] + gh[i]) * g.up + g.half) >> g.down), sig);
        const int32_t zv = ckd_act_q15_inline(ckd_sat16_32(((gi[H + i] + gh[H + i]) * g.up + g.half) >> g.down), sig);
        /* m = rq(r * gh_n, 15) needs no saturation: 0 <= r <= 32767 and |gh_n| <= 32767 give |m| <= 32766. */
        const int32_t m = (rv * gh[2u * H + i] + (1 << (CKD_Q15 - 1))) >> CKD_Q15;
        const int32_t nv = ckd_act_q15_inline(ckd_sat16_32(((gi[2u * H + i] + m) * g.up + g.half) >> g.down), tnh);
        /* h' = n + rq(z * (h - n), 15): |z * (h - n)| < 2^31 (0 <= z <= 32767, |h - n| <= 65534). With
         * z / 2^15 < 1 the rounded step lies between 0 and h - n, so h' lies between n and h: no
         * saturation is needed. */
        h[i] = (int16_t)(nv + ((zv * (h[i] - nv) + (1 << (CKD_Q15 - 1))) >> CKD_Q15));
        if (trace) {
            r[i] = (int16_t)rv;
            z[i] = (int16_t)zv;
            n[i] = (int16_t)nv;
        }
    }
}

void ckd_gru_update(const ckd_gru_params_t *p, const int16_t *gi, const int16_t *gh, int16_t *h,
                    int16_t *r, int16_t *z, int16_t *n)
{
    if (r != 0 && z != 0 && n != 0) {
        ckd_gru_units(p, gi, gh, h, r, z, n, 1);
    } else {
        ckd_gru_units(p, gi, gh, h, r, z, n, 0);
    }
}
