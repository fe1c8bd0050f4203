/* shim_main.c - the host test shim's calls, replayed on a Cortex-M under QEMU, so that the kernel
 * tests drive the device build (the SMLAD path included) with exactly the data they give the host
 * build through ctypes. collar_kd/verify/target_shim.py writes the calls and reads the results.
 *
 *   shim CALLS RESULTS
 *
 * CALLS: records of  u32 name length, name, u32 argument count, then per argument
 *        u32 kind (0 int, 1 int8[], 2 int16[], 3 int32[]), u32 count, u32 byte offset, and the
 *        int's value or the array's elements (padded to a multiple of 4 bytes).
 * RESULTS: for every call, every array argument as it is after the call, in order.
 * Arrays are placed in a static arena at a 4-byte boundary plus their offset, so a test can hand
 * the kernels misaligned pointers on purpose. Ends with the line "CKD-SHIM-DONE calls=N".
 */
#include <stdio.h>
#include <string.h>

#include "ckd_host_shim.h"

#define MAX_ARGS 12
#define ARENA_WORDS 2560 /* 10 KB: fits the collar's 28 KB of RAM beside stdio and the stack */

static uint32_t arena[ARENA_WORDS];

enum { ARG_INT, ARG_I8, ARG_I16, ARG_I32 };

static int fail(const char *what, unsigned long call)
{
    printf("CKD-SHIM-ERROR %s call=%lu\n", what, call);
    return 3;
}

static int read_u32(FILE *f, uint32_t *v)
{
    return fread(v, 4, 1, f) == 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        printf("usage: %s CALLS RESULTS\n", argc > 0 ? argv[0] : "shim");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        return fail("cannot-open", 0);
    }
    unsigned long calls = 0;
    uint32_t name_len;
    while (read_u32(in, &name_len)) {
        char name[32];
        uint32_t nargs;
        if (name_len >= sizeof name || fread(name, 1, name_len, in) != name_len || !read_u32(in, &nargs) || nargs > MAX_ARGS) {
            return fail("bad-record", calls);
        }
        name[name_len] = '\0';
        void *ptr[MAX_ARGS] = {0};
        int32_t val[MAX_ARGS] = {0};
        uint32_t bytes[MAX_ARGS] = {0};
        uint32_t used = 0;
        for (uint32_t a = 0; a < nargs; ++a) {
            uint32_t kind, count, offset;
            if (!read_u32(in, &kind) || !read_u32(in, &count) || !read_u32(in, &offset) || kind > ARG_I32 || offset > 3u) {
                return fail("bad-argument", calls);
            }
            if (kind == ARG_INT) {
                if (fread(&val[a], 4, 1, in) != 1) {
                    return fail("truncated", calls);
                }
                continue;
            }
            const uint32_t size = count * (kind == ARG_I8 ? 1u : kind == ARG_I16 ? 2u : 4u);
            const uint32_t padded = (size + 3u) & ~3u;
            used = (used + 3u) & ~3u;
            if (used + offset + padded > sizeof arena) {
                return fail("arena-too-small", calls);
            }
            ptr[a] = (uint8_t *)arena + used + offset;
            bytes[a] = size;
            if (fread(ptr[a], 1, padded, in) != padded) {
                return fail("truncated", calls);
            }
            used += offset + padded;
        }
        if (strcmp(name, "shim_fc_s8") == 0 && nargs == 11) {
            shim_fc_s8(ptr[0], ptr[1], ptr[2], val[3], val[4], ptr[5], val[6], val[7], ptr[8], ptr[9], ptr[10]);
        } else if (strcmp(name, "shim_fc_s16") == 0 && nargs == 9) {
            shim_fc_s16(ptr[0], ptr[1], val[2], val[3], ptr[4], val[5], ptr[6], ptr[7], ptr[8]);
        } else if (strcmp(name, "shim_act") == 0 && nargs == 4) {
            shim_act(ptr[0], ptr[1], val[2], ptr[3]);
        } else if (strcmp(name, "shim_gru_update") == 0 && nargs == 10) {
            shim_gru_update(ptr[0], ptr[1], ptr[2], val[3], val[4], ptr[5], ptr[6], ptr[7], ptr[8], ptr[9]);
        } else if (strcmp(name, "shim_frame_stream") == 0 && nargs == 5) {
            (void)shim_frame_stream(ptr[0], val[1], val[2], ptr[3], ptr[4]);
        } else {
            return fail("unknown-call", calls);
        }
        for (uint32_t a = 0; a < nargs; ++a) {
            if (ptr[a] != NULL && fwrite(ptr[a], 1, bytes[a], out) != bytes[a]) {
                return fail("cannot-write", calls);
            }
        }
        ++calls;
    }
    fclose(in);
    if (fclose(out) != 0) {
        return fail("cannot-write", calls);
    }
    printf("CKD-SHIM-DONE calls=%lu\n", calls);
    return 0;
}
