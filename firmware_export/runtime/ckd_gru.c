/* ckd_gru.c - r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z),
 * n = tanh(gi_n + r * gh_n), h' = n + z * (h - n)   [== (1 - z) n + z h; 1.0 is not Q15]. */
#include "ckd_gru.h"
#include "ckd_act.h"
#include "ckd_requant.h"

void ckd_gru_update(const ckd_gru_params_t *p, const int16_t *gi, const int16_t *gh, int16_t *h,
                    int16_t *r, int16_t *z, int16_t *n)
{
    const uint16_t H = p->hidden;
    for (uint16_t i = 0; i < H; ++i) {
        int16_t rv = ckd_act_q15(ckd_sat16(ckd_rq((int64_t)gi[i] + gh[i], p->gate_shift)), p->sigmoid_table);
        int16_t zv = ckd_act_q15(ckd_sat16(ckd_rq((int64_t)gi[H + i] + gh[H + i], p->gate_shift)), p->sigmoid_table);
        int16_t m = ckd_sat16(ckd_rq((int64_t)rv * gh[2 * H + i], CKD_Q15));
        int16_t nv = ckd_act_q15(ckd_sat16(ckd_rq((int64_t)gi[2 * H + i] + m, p->gate_shift)), p->tanh_table);
        h[i] = ckd_sat16((int64_t)nv + ckd_rq((int64_t)zv * ((int32_t)h[i] - (int32_t)nv), CKD_Q15));
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
