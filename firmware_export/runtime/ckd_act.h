/* ckd_act.h - sigmoid / tanh: Q12 input, Q15 output, 257-entry table, linear interpolation. */
#ifndef CKD_ACT_H
#define CKD_ACT_H

#include <stdint.h>

#include "ckd_spec.h" /* CKD_ACT_TABLE_SIZE */

int16_t ckd_act_q15(int16_t x_q12, const int16_t table[CKD_ACT_TABLE_SIZE]);

#endif /* CKD_ACT_H */
