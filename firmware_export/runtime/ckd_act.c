/* ckd_act.c - the activation lookup as a function, for callers outside the GRU. */
#include "ckd_act.h"

int16_t ckd_act_q15(int16_t x_q12, const int16_t table[CKD_ACT_TABLE_SIZE])
{
    return ckd_act_q15_inline(x_q12, table);
}
