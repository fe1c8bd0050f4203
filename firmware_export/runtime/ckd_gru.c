/* ckd_gru.c - r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z),
 * n = tanh(gi_n + r * gh_n), h' = n + z * (h - n)   [== (1 - z) n + z h; 1.0 is not Q15]. */
#include "ckd_gru.h"
#include "ckd_act.h"
#include "ckd_requant.h"

void ckd_gru_update(const ckd_gru_params_t *p, const int16_t *gi, const int16_t *gh, int16_t *h,
                    int16_t *r, int16_t *z, int16_t *n)
{
    const uint32_t H = p->hidden;
    for (uint32_t i = 0; i < H; ++i) {
        /* Every intermediate fits int32: |gi + gh| <= 65534, |r * gh_n| < 2^30,
         * 0 <= z and |h - n| <= 65534 so |z * (h - n)| < 2^31 (docs/fixed-point.md). */
        int16_t rv = ckd_act_q15(ckd_requant16((int32_t)gi[i] + gh[i], p->gate_shift), p->sigmoid_table);
        int16_t zv = ckd_act_q15(ckd_requant16((int32_t)gi[H + i] + gh[H + i], p->gate_shift), p->sigmoid_table);
        int16_t m = ckd_requant16((int32_t)rv * gh[2u * H + i], CKD_Q15);
        int16_t nv = ckd_act_q15(ckd_requant16((int32_t)gi[2u * H + i] + m, p->gate_shift), p->tanh_table);
        h[i] = ckd_sat16_32((int32_t)nv + ckd_rq32((int32_t)zv * ((int32_t)h[i] - (int32_t)nv), CKD_Q15));
        if (r != 0) {
            r[i] = rv;
        }
        if (z != 0) {
            z[i] = zv;
        }
        if (n != 0) {
            n[i] = nv;
        }
    }
}
