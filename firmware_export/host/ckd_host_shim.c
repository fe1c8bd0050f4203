/* ckd_host_shim.c - flat entry points over the runtime's kernels and model, for the Python
 * tests (emlearn-style: the C compiled on the host and driven with the same data as the
 * simulator through ctypes). Not part of the device build. */
#include <stddef.h>
#include <stdint.h>

#include "ckd_host_shim.h"

#include "ckd_act.h"
#include "ckd_fc.h"
#include "ckd_frame.h"
#include "ckd_gru.h"
#include "ckd_model.h"
#include "ckd_stream.h"

/* b_out: the bias as the exporter stores it for a re-quantized layer (rounding folded in where it
 * folds, then `folded` is 1); b_acc: the plain bias, as stored for the logits layer. shift: per row. */
void shim_fc_s8(const int8_t *w, const int32_t *b_out, const int32_t *b_acc, int rows, int cols, const int8_t *shift,
                int folded, int relu, const int16_t *in, int16_t *out, int32_t *acc)
{
    const ckd_fc_s8_params_t p = {w, b_out, shift, (uint16_t)rows, (uint16_t)cols, (uint8_t)folded, (uint8_t)relu};
    const ckd_fc_s8_params_t pa = {w, b_acc, 0, (uint16_t)rows, (uint16_t)cols, 0u, (uint8_t)relu};
    ckd_fc_s8(&p, in, out);
    ckd_fc_s8_acc(&pa, in, acc);
}

void shim_fc_s16(const int16_t *w, const int32_t *b, int rows, int cols, const int8_t *shift, int relu, const int16_t *in,
                 int16_t *out, int32_t *acc)
{
    const ckd_fc_s16_params_t p = {w, b, shift, (uint16_t)rows, (uint16_t)cols, 0u, (uint8_t)relu};
    ckd_fc_s16(&p, in, out);
    ckd_fc_s16_acc(&p, in, acc);
}

void shim_act(const int16_t *x, int16_t *y, int n, const int16_t *table)
{
    for (int i = 0; i < n; ++i) {
        y[i] = ckd_act_q15(x[i], table);
    }
}

void shim_gru_update(const int16_t *gi, const int16_t *gh, int16_t *h, int hidden, int gate_shift,
                     const int16_t *sig, const int16_t *tanh_t, int16_t *r, int16_t *z, int16_t *n)
{
    const ckd_gru_params_t p = {(uint16_t)hidden, (int8_t)gate_shift, sig, tanh_t};
    ckd_gru_update(&p, gi, gh, h, r, z, n);
}

/* Whole windows through the streaming API: n windows of CKD_WINDOW x 3 samples. */
void shim_run_windows(const int16_t *x, int n, int32_t *logits, int32_t *cls, int16_t *h)
{
    static ckd_state_t s;
    for (size_t w = 0; w < (size_t)n; ++w) {
        cls[w] = ckd_run_window(&s, x + w * CKD_WINDOW * CKD_INPUTS, logits + w * CKD_CLASSES);
        for (size_t i = 0; i < CKD_HIDDEN; ++i) {
            h[w * CKD_HIDDEN + i] = s.h[i];
        }
    }
}

int shim_input_from_counts(int32_t counts, int shift)
{
    return ckd_input_from_counts(counts, shift);
}

/* The state struct's size, so a test can hold the footprint estimate to the real layout. */
int shim_state_bytes(void)
{
    return (int)sizeof(ckd_state_t);
}

/* A recording of n raw samples (counts) through the streaming API: the class and logits of every
 * window it completes, in order; returns how many. */
int shim_stream(const int32_t *counts, int n, int stride, int counts_shift, int32_t *cls, int32_t *logits)
{
    static ckd_stream_t st;
    static ckd_state_t s;
    if (ckd_stream_init(&st, (uint32_t)stride, counts_shift) != 0) {
        return -1;
    }
    int windows = 0;
    for (size_t i = 0; i < (size_t)n; ++i) {
        const int c = ckd_stream_push(&st, &s, counts + i * CKD_INPUTS, logits + (size_t)windows * CKD_CLASSES);
        if (c >= 0) {
            cls[windows++] = c;
        }
    }
    return windows;
}

/* n samples (input format) through the frame: each added, the heading updated after every
 * `every` samples, each sample written out turned by the heading current after its own update
 * step; heading gets the last (c, s). */
int shim_frame_stream(const int16_t *x, int n, int every, int16_t *out, int32_t *heading)
{
    ckd_frame_t f;
    ckd_frame_init(&f);
    if (every < 1) {
        return -1;
    }
    for (size_t i = 0; i < (size_t)n; ++i) {
        ckd_frame_add(&f, x + i * CKD_INPUTS);
        if ((i + 1u) % (size_t)every == 0u) {
            ckd_frame_update(&f);
        }
        ckd_frame_turn(&f, x + i * CKD_INPUTS, out + i * CKD_INPUTS);
    }
    heading[0] = f.c;
    heading[1] = f.s;
    return 0;
}

int shim_weights_ok(void)
{
    return ckd_weights_ok();
}

int shim_weights_crc32(void)
{
    return (int)ckd_weights_crc32();
}
