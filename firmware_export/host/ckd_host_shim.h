/* ckd_host_shim.h - the host test wrapper's C interface, declared once: the shim implements it
 * and collar_kd/verify/host_lib.py reads these prototypes to set its ctypes signatures. Keep one
 * prototype per line; parameter types are int, int32_t, or pointers to int8_t/int16_t/int32_t. */
#ifndef CKD_HOST_SHIM_H
#define CKD_HOST_SHIM_H

#include <stdint.h>

void shim_fc_s8(const int8_t *w, const int32_t *b_out, const int32_t *b_acc, int rows, int cols, const int8_t *shift, int folded, int relu, const int16_t *in, int16_t *out, int32_t *acc);
void shim_fc_s16(const int16_t *w, const int32_t *b, int rows, int cols, const int8_t *shift, int relu, const int16_t *in, int16_t *out, int32_t *acc);
void shim_act(const int16_t *x, int16_t *y, int n, const int16_t *table);
void shim_gru_update(const int16_t *gi, const int16_t *gh, int16_t *h, int hidden, int gate_shift, const int16_t *sig, const int16_t *tanh_t, int16_t *r, int16_t *z, int16_t *n);
void shim_run_windows(const int16_t *x, int n, int32_t *logits, int32_t *cls, int16_t *h);
int shim_input_from_counts(int32_t counts, int shift);
int shim_state_bytes(void);
int shim_stream(const int32_t *counts, int n, int stride, int counts_shift, int32_t *cls, int32_t *logits);
int shim_frame_stream(const int16_t *x, int n, int every, int16_t *out, int32_t *heading);
int shim_weights_ok(void);
int shim_weights_crc32(void);

#endif /* CKD_HOST_SHIM_H */
