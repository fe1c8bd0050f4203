/* ckd_gru.h - the GRU state update from the two pre-activation vectors, PyTorch's algebra. */
#ifndef CKD_GRU_H
#define CKD_GRU_H

#include <stdint.h>

typedef struct {
    uint16_t hidden;
    int8_t gate_shift; /* f_g - 12: pre-activations to the Q12 table input */
    const int16_t *sigmoid_table;
    const int16_t *tanh_table;
} ckd_gru_params_t;

/* gi, gh: 3*hidden values (rows r, z, n) in Q f_g; h: hidden values in Q15, updated in place.
 * r, z, n: all three (layer-by-layer comparison) or all NULL (production). */
void ckd_gru_update(const ckd_gru_params_t *p, const int16_t *gi, const int16_t *gh, int16_t *h,
                    int16_t *r, int16_t *z, int16_t *n);

#endif /* CKD_GRU_H */
