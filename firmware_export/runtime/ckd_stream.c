/* ckd_stream.c - see ckd_stream.h. */
#include "ckd_stream.h"

int ckd_stream_init(ckd_stream_t *st, uint32_t stride, int counts_shift)
{
    if (stride == 0u || stride > CKD_WINDOW) {
        return -1;
    }
    st->next = 0;
    st->filled = 0;
    st->since = 0;
    st->stride = stride;
    st->counts_shift = counts_shift;
#if CKD_FRAME
    ckd_frame_init(&st->frame);
#endif
    return 0;
}

int ckd_stream_push(ckd_stream_t *st, ckd_state_t *s, const int32_t counts[CKD_INPUTS], int32_t logits[CKD_CLASSES])
{
    int16_t *slot = st->ring + st->next * CKD_INPUTS;
    for (uint32_t k = 0; k < CKD_INPUTS; ++k) {
        slot[k] = ckd_input_from_counts(counts[k], st->counts_shift);
    }
#if CKD_FRAME
    ckd_frame_add(&st->frame, slot);
#endif
    st->next = st->next + 1u == CKD_WINDOW ? 0u : st->next + 1u;
    if (st->filled < CKD_WINDOW) {
        if (++st->filled < CKD_WINDOW) {
            return -1; /* the first window is not full yet */
        }
    } else if (++st->since < st->stride) {
        return -1; /* between two windows */
    }
    st->since = 0;
    /* the oldest sample is at st->next: feed the window in time order straight from the ring */
    ckd_reset(s);
#if CKD_FRAME
    ckd_frame_update(&st->frame); /* one heading for the whole window, as in training */
#endif
    uint32_t i = st->next;
    for (uint32_t t = 0; t < CKD_WINDOW; ++t) {
#if CKD_FRAME
        int16_t turned[CKD_INPUTS];
        ckd_frame_turn(&st->frame, st->ring + i * CKD_INPUTS, turned);
        ckd_step(s, turned);
#else
        ckd_step(s, st->ring + i * CKD_INPUTS);
#endif
        i = i + 1u == CKD_WINDOW ? 0u : i + 1u;
    }
    return ckd_classify(s, logits);
}
