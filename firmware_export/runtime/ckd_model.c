/* ckd_model.c - input layer -> GRU -> MLP head, per docs/fixed-point.md. */
#include "ckd_model.h"

#include <stddef.h>

#include "ckd_act.h"
#include "ckd_fc.h"
#include "ckd_gru.h"
#include "ckd_model_weights.h"
#include "ckd_requant.h"

/* Every layer's kernel by its weights' word length (CKD_WEIGHT_BITS_<LAYER>, ckd_model_params.h):
 * ckd_fc_s8 or ckd_fc_s16, and their _acc forms for the logits. A model may mix them, e.g. the
 * GRU's input matrix in 16 bits and the rest in 8. */
#define CKD_CAT_(a, b) a##b
#define CKD_CAT(a, b) CKD_CAT_(a, b)
#define CKD_FC(bits) CKD_CAT(ckd_fc_s, bits)
#define CKD_FC_ACC(bits) CKD_CAT(CKD_FC(bits), _acc)

#if (CKD_WEIGHT_BITS_INP != 8 && CKD_WEIGHT_BITS_INP != 16) || (CKD_WEIGHT_BITS_IH != 8 && CKD_WEIGHT_BITS_IH != 16) || \
    (CKD_WEIGHT_BITS_HH != 8 && CKD_WEIGHT_BITS_HH != 16) || (CKD_WEIGHT_BITS_FC1 != 8 && CKD_WEIGHT_BITS_FC1 != 16) || \
    (CKD_WEIGHT_BITS_FC2 != 8 && CKD_WEIGHT_BITS_FC2 != 16)
#error "every CKD_WEIGHT_BITS_<LAYER> must be 8 or 16"
#endif

static const ckd_gru_params_t ckd_gru = {CKD_HIDDEN, CKD_SHIFT_GATE, ckd_sigmoid_table, ckd_tanh_table};

#ifdef CKD_TRACE
static int16_t trace_r[CKD_HIDDEN], trace_z[CKD_HIDDEN], trace_n[CKD_HIDDEN];
#define TRACE(name, v, n) ckd_trace((name), (v), (uint32_t)(n))
#define TRACE_R trace_r
#define TRACE_Z trace_z
#define TRACE_N trace_n
#else
#define TRACE(name, v, n) ((void)0)
#define TRACE_R 0
#define TRACE_Z 0
#define TRACE_N 0
#endif

void ckd_reset(ckd_state_t *s)
{
    for (uint16_t i = 0; i < CKD_HIDDEN; ++i) {
        s->h[i] = 0;
    }
    s->steps = 0;
}

void ckd_step(ckd_state_t *s, const int16_t x[CKD_INPUTS])
{
    CKD_FC(CKD_WEIGHT_BITS_INP)(&ckd_fc_inp, x, s->a);
    TRACE("a", s->a, CKD_HIDDEN);
    CKD_FC(CKD_WEIGHT_BITS_IH)(&ckd_fc_ih, s->a, s->gi);
    TRACE("gi", s->gi, 3 * CKD_HIDDEN);
    CKD_FC(CKD_WEIGHT_BITS_HH)(&ckd_fc_hh, s->h, s->gh);
    TRACE("gh", s->gh, 3 * CKD_HIDDEN);
    ckd_gru_update(&ckd_gru, s->gi, s->gh, s->h, TRACE_R, TRACE_Z, TRACE_N);
    TRACE("r", trace_r, CKD_HIDDEN);
    TRACE("z", trace_z, CKD_HIDDEN);
    TRACE("n", trace_n, CKD_HIDDEN);
    TRACE("h", s->h, CKD_HIDDEN);
    s->steps++;
}

int ckd_classify(ckd_state_t *s, int32_t logits[CKD_CLASSES])
{
    CKD_FC(CKD_WEIGHT_BITS_FC1)(&ckd_fc_fc1, s->h, s->y);
    TRACE("y", s->y, CKD_HEAD);
    CKD_FC_ACC(CKD_WEIGHT_BITS_FC2)(&ckd_fc_fc2, s->y, logits);
    int best = 0;
    for (int c = 1; c < CKD_CLASSES; ++c) {
        if (logits[c] > logits[best]) {
            best = c; /* strictly greater: ties go to the lowest index */
        }
    }
    return best;
}

int ckd_run_window(ckd_state_t *s, const int16_t window[CKD_WINDOW * CKD_INPUTS], int32_t logits[CKD_CLASSES])
{
    ckd_reset(s);
    for (uint32_t t = 0; t < CKD_WINDOW; ++t) {
        ckd_step(s, window + t * CKD_INPUTS);
    }
    return ckd_classify(s, logits);
}

int16_t ckd_input_from_counts(int32_t counts, int counts_shift)
{
    return ckd_sat16(ckd_rq(counts, counts_shift - CKD_FRAC_X));
}

uint32_t ckd_model_id(void)
{
    return CKD_MODEL_ID;
}

/* CRC-32 (IEEE 802.3, reflected, as zlib), bit by bit: no table in flash, run once at start-up. */
static uint32_t ckd_crc32_update(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc;
}

uint32_t ckd_weights_crc32(void)
{
    uint32_t crc = 0xFFFFFFFFu;
#define CKD_CRC_ADD(array) crc = ckd_crc32_update(crc, (array), sizeof(array));
    CKD_WEIGHT_ARRAYS(CKD_CRC_ADD)
#undef CKD_CRC_ADD
    return ~crc;
}

int ckd_weights_ok(void)
{
    return ckd_weights_crc32() == CKD_WEIGHTS_CRC32;
}
