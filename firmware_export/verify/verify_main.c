/* verify_main.c - the verify harness: the same C on the host and on Cortex-M under QEMU.
 *
 *   verify INPUTS OUTPUTS                 every window; even windows through ckd_run_window,
 *                                         odd ones through reset/step/classify (both APIs)
 *   verify INPUTS OUTPUTS W TRACEFILE     (CKD_TRACE builds) window W only, every tensor traced
 *
 * Formats: collar_kd/export/vectors.py. Ends with the sentinel line "CKD-VERIFY-DONE ...";
 * the comparison itself is done by `make verify` on the output file, never on the exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckd_model.h"

static int16_t window[CKD_WINDOW * CKD_INPUTS];
static ckd_state_t state;

#ifdef CKD_TRACE
static FILE *trace_file;

void ckd_trace(const char *tensor, const int16_t *values, uint32_t n)
{
    if (trace_file == NULL) {
        return;
    }
    uint8_t len = (uint8_t)strlen(tensor);
    fwrite(&len, 1, 1, trace_file);
    fwrite(tensor, 1, len, trace_file);
    fwrite(&n, sizeof n, 1, trace_file);
    fwrite(values, sizeof *values, n, trace_file);
}
#endif

/* Called before every window and after the last: instruction counters (bench/mcu.py) take
 * their per-window snapshots here. Outside the model's code, so it is never counted. */
__attribute__((noinline)) void window_boundary(void)
{
    __asm__ volatile("" ::: "memory");
}

static int fail(const char *what, const char *path)
{
    printf("CKD-VERIFY-ERROR %s %s\n", what, path);
    return 3;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        printf("usage: %s INPUTS OUTPUTS [WINDOW TRACEFILE]\n", argc > 0 ? argv[0] : "verify");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        return fail("cannot-open", argv[1]);
    }
    char magic[4];
    uint32_t hdr[4];
    if (fread(magic, 1, 4, in) != 4 || memcmp(magic, "CKDI", 4) != 0 || fread(hdr, 4, 4, in) != 4) {
        return fail("bad-header", argv[1]);
    }
    if (hdr[2] != CKD_WINDOW || hdr[3] != CKD_INPUTS) {
        return fail("window-length-or-channels-differ-from-model", argv[1]);
    }
    const uint32_t n = hdr[1];
    long only = -1;
    if (argc == 5) {
#ifdef CKD_TRACE
        only = strtol(argv[3], NULL, 10);
        trace_file = fopen(argv[4], "wb");
        if (trace_file == NULL) {
            return fail("cannot-open", argv[4]);
        }
#else
        return fail("not-a-trace-build", argv[4]);
#endif
    }
    FILE *out = fopen(argv[2], "wb");
    if (out == NULL) {
        return fail("cannot-open", argv[2]);
    }
    const uint32_t written = only >= 0 ? 1u : n;
    const uint32_t ohdr[5] = {1u, written, CKD_CLASSES, CKD_HIDDEN, ckd_model_id()};
    fwrite("CKDO", 1, 4, out);
    fwrite(ohdr, 4, 5, out);
    for (uint32_t w = 0; w < n; ++w) {
        if (fread(window, sizeof window, 1, in) != 1) {
            return fail("truncated-inputs", argv[1]);
        }
        if (only >= 0 && (long)w != only) {
            continue;
        }
        window_boundary();
        int32_t logits[CKD_CLASSES];
        int32_t cls;
        if (w % 2u == 0u) {
            cls = ckd_run_window(&state, window, logits);
        } else {
            ckd_reset(&state);
            for (uint32_t t = 0; t < CKD_WINDOW; ++t) {
                ckd_step(&state, window + t * CKD_INPUTS);
            }
            cls = ckd_classify(&state, logits);
        }
        fwrite(logits, sizeof logits, 1, out);
        fwrite(&cls, sizeof cls, 1, out);
        fwrite(state.h, sizeof state.h, 1, out);
    }
    window_boundary();
    fclose(in);
    if (fclose(out) != 0) {
        return fail("cannot-write", argv[2]);
    }
#ifdef CKD_TRACE
    if (trace_file != NULL) {
        fclose(trace_file);
    }
#endif
    printf("CKD-VERIFY-DONE windows=%lu model=%08lx\n", (unsigned long)written, (unsigned long)ckd_model_id());
    return 0;
}
