/* ckd_stream.h - overlapping windows from a live sensor, as in training: a window of CKD_WINDOW
 * samples every `stride` samples (stride <= CKD_WINDOW). The raw samples are kept once, in a ring
 * of one window; when a window completes, the model runs over the ring in time order (no copy).
 *
 *   static ckd_stream_t st;  static ckd_state_t s;        (caller-owned; no malloc)
 *   ckd_stream_init(&st, stride, counts_shift);
 *   on every sensor sample:   cls = ckd_stream_push(&st, &s, counts, logits);   (-1: no window yet)
 *
 * A model trained in each animal's own frame (CKD_FRAME 1 in ckd_model_params.h) gets every
 * window turned by the running heading of all samples so far (ckd_frame.h); the ring keeps the
 * samples as measured.
 */
#ifndef CKD_STREAM_H
#define CKD_STREAM_H

#include <stdint.h>

#include "ckd_frame.h"
#include "ckd_model.h"

typedef struct {
    int16_t ring[CKD_WINDOW * CKD_INPUTS]; /* the last CKD_WINDOW samples, input format */
    uint32_t next;                         /* the ring slot the next sample goes to (the oldest) */
    uint32_t filled;                       /* samples held, up to CKD_WINDOW */
    uint32_t since;                        /* samples since the last window ended */
    uint32_t stride;
    int counts_shift; /* the sensor's counts per g is 2^counts_shift */
#if CKD_FRAME
    ckd_frame_t frame; /* the animal's heading: a running mean of every sample pushed */
#endif
} ckd_stream_t;

/* 0, or -1 if stride is 0 or longer than a window. */
int ckd_stream_init(ckd_stream_t *st, uint32_t stride, int counts_shift);

/* One sample of raw counts. When it completes a window (the first after CKD_WINDOW samples, then
 * every stride samples), runs the model with s as its state and scratch, writes the logits and
 * returns the class; otherwise returns -1. */
int ckd_stream_push(ckd_stream_t *st, ckd_state_t *s, const int32_t counts[CKD_INPUTS], int32_t logits[CKD_CLASSES]);

#endif /* CKD_STREAM_H */
