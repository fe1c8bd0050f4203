/* fc_shapes_main.c - CMSIS-NN's fully-connected kernels at the collar-kd student's dense shapes,
 * for `make bench-mcu` (bench/mcu.py builds it against ../shared/peers; nothing of CMSIS-NN is
 * copied into the project). One "window" is what the student's matrices do per window:
 * for each of STEPS samples 3->H (ReLU), H->3H, H->3H; then H->M (ReLU) and M->C.
 *
 *   fc_shapes s16|s8 WINDOWS     prints "CKD-PEER-DONE kernel=... windows=... checksum=..."
 *
 * window_boundary() marks each window for the instruction counter, as in the verify harness.
 * Weights and inputs are fixed pseudo-random values; the checksum keeps the work observable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm_nnfunctions.h"

#ifndef H
#define H 32
#endif
#ifndef M
#define M 32
#endif
#ifndef C
#define C 4
#endif
#ifndef STEPS
#define STEPS 50
#endif

static int8_t w_inp[H * 3], w_ih[3 * H * H], w_hh[3 * H * H], w_fc1[M * H], w_fc2[C * M];
static int64_t b64[3 * H];
static int32_t b32[3 * H];
static int16_t x16[3], a16[H], h16[H], gi16[3 * H], gh16[3 * H], y16[M], z16[C];
static int8_t x8[4], a8[H], h8[H], gi8[3 * H], gh8[3 * H], y8[M], z8[C];

__attribute__((noinline)) void window_boundary(void)
{
    __asm__ volatile("" ::: "memory");
}

static uint32_t lcg = 12345u;
static int32_t next(int32_t lo, int32_t hi)
{
    lcg = lcg * 1664525u + 1013904223u;
    return lo + (int32_t)((lcg >> 8) % (uint32_t)(hi - lo + 1));
}

static void fill8(int8_t *v, int n)
{
    for (int i = 0; i < n; ++i) {
        v[i] = (int8_t)next(-127, 127);
    }
}

static void fc16(const int16_t *in, int cols, const int8_t *w, int rows, int16_t *out, int relu)
{
    const cmsis_nn_context ctx = {NULL, 0};
    const cmsis_nn_fc_params fc = {0, 0, 0, {relu ? 0 : -32768, 32767}};
    const cmsis_nn_per_tensor_quant_params q = {1 << 30, -6};
    const cmsis_nn_dims in_d = {1, 1, 1, cols}, f_d = {cols, 1, 1, rows}, b_d = {1, 1, 1, rows}, o_d = {1, 1, 1, rows};
    arm_fully_connected_s16(&ctx, &fc, &q, &in_d, in, &f_d, w, &b_d, b64, &o_d, out);
}

static void fc8(const int8_t *in, int cols, const int8_t *w, int rows, int8_t *out, int relu)
{
    const cmsis_nn_context ctx = {NULL, 0};
    const cmsis_nn_fc_params fc = {0, 0, 0, {relu ? 0 : -128, 127}};
    const cmsis_nn_per_tensor_quant_params q = {1 << 30, -6};
    const cmsis_nn_dims in_d = {1, 1, 1, cols}, f_d = {cols, 1, 1, rows}, b_d = {1, 1, 1, rows}, o_d = {1, 1, 1, rows};
    arm_fully_connected_s8(&ctx, &fc, &q, &in_d, in, &f_d, w, &b_d, b32, &o_d, out);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        printf("usage: fc_shapes s16|s8 WINDOWS\n");
        return 2;
    }
    const int s16 = strcmp(argv[1], "s16") == 0;
    const long windows = strtol(argv[2], NULL, 10);
    fill8(w_inp, H * 3);
    fill8(w_ih, 3 * H * H);
    fill8(w_hh, 3 * H * H);
    fill8(w_fc1, M * H);
    fill8(w_fc2, C * M);
    for (int i = 0; i < 3 * H; ++i) {
        b32[i] = next(-100000, 100000);
        b64[i] = b32[i];
    }
    int64_t checksum = 0;
    for (long w = 0; w < windows; ++w) {
        window_boundary();
        for (int t = 0; t < STEPS; ++t) {
            for (int k = 0; k < 3; ++k) {
                x16[k] = (int16_t)next(-16384, 16383);
                x8[k] = (int8_t)(x16[k] >> 8);
            }
            if (s16) {
                fc16(x16, 3, w_inp, H, a16, 1);
                fc16(a16, H, w_ih, 3 * H, gi16, 0);
                fc16(h16, H, w_hh, 3 * H, gh16, 0);
                memcpy(h16, gi16 + 2 * H, sizeof h16); /* stand-in for the GRU update (not counted) */
            } else {
                fc8(x8, 3, w_inp, H, a8, 1);
                fc8(a8, H, w_ih, 3 * H, gi8, 0);
                fc8(h8, H, w_hh, 3 * H, gh8, 0);
                memcpy(h8, gi8 + 2 * H, sizeof h8);
            }
        }
        if (s16) {
            fc16(h16, H, w_fc1, M, y16, 1);
            fc16(y16, M, w_fc2, C, z16, 0);
            checksum += z16[0] + gh16[0];
        } else {
            fc8(h8, H, w_fc1, M, y8, 1);
            fc8(y8, M, w_fc2, C, z8, 0);
            checksum += z8[0] + gh8[0];
        }
    }
    window_boundary();
    printf("CKD-PEER-DONE kernel=%s windows=%ld checksum=%ld\n", argv[1], windows, (long)checksum);
    return 0;
}
