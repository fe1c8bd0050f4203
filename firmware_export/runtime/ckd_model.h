/* ckd_model.h - the collar-kd student on the device: a streaming API whose state the caller owns.
 *
 *   ckd_state_t s;                  (static or on the caller's stack: no malloc anywhere)
 *   ckd_reset(&s);
 *   for each accelerometer sample:  ckd_step(&s, xyz);   (int16 in the model's input format)
 *   after CKD_WINDOW samples:       cls = ckd_classify(&s, logits);
 *
 * or cls = ckd_run_window(&s, window, logits) on a buffered window: identical bits.
 */
#ifndef CKD_MODEL_H
#define CKD_MODEL_H

#include <stdint.h>

#include "ckd_model_params.h"

typedef struct {
    int16_t h[CKD_HIDDEN];      /* GRU state, Q15: the only thing carried between samples */
    int16_t a[CKD_HIDDEN];      /* scratch: input layer output */
    int16_t gi[3 * CKD_HIDDEN]; /* scratch: input pre-activations (r, z, n) */
    int16_t gh[3 * CKD_HIDDEN]; /* scratch: hidden pre-activations (r, z, n) */
    int16_t y[CKD_HEAD];        /* scratch: head hidden layer */
    uint32_t steps;             /* samples since the last reset */
} ckd_state_t;

void ckd_reset(ckd_state_t *s);
void ckd_step(ckd_state_t *s, const int16_t x[CKD_INPUTS]);
/* Integer logits (Q CKD_LOGIT_FRAC) and the class: argmax, ties to the lowest index. */
int ckd_classify(ckd_state_t *s, int32_t logits[CKD_CLASSES]);
int ckd_run_window(ckd_state_t *s, const int16_t window[CKD_WINDOW * CKD_INPUTS], int32_t logits[CKD_CLASSES]);

/* Raw accelerometer counts (2^counts_shift counts per g) to the input format Q CKD_FRAC_X. */
int16_t ckd_input_from_counts(int32_t counts, int counts_shift);

uint32_t ckd_model_id(void);

/* The weights as they are in flash, check-summed (CRC-32 bit by bit, about 48 instructions per
 * byte: under 10 ms at 64 MHz for the default student's 11 KB). Call once at start-up and refuse
 * to classify if ckd_weights_ok() is 0, so a corrupted flash image is detected rather than
 * trusted. CKD_WEIGHTS_CRC32 and CKD_MODEL_ID in ckd_model_params.h name the export. */
uint32_t ckd_weights_crc32(void);
int ckd_weights_ok(void);

#ifdef CKD_TRACE
/* Layer-by-layer comparison: called with every intermediate tensor (verify builds only). */
void ckd_trace(const char *tensor, const int16_t *values, uint32_t n);
#endif

#endif /* CKD_MODEL_H */
