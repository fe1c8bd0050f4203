/* ckd_frame.h - the animal's own frame on the device (data.frame = "animal", collar_kd/data/frame.py).
 *
 * Training turned every animal's samples about the sensor's z axis so that its mean x-y
 * acceleration (its collar's heading on the neck) points along +x. The device keeps the same
 * mean as a running sum of its own samples and turns each window by it, integer only:
 *
 *   ckd_frame_init(&f);
 *   on every sample (input format):  ckd_frame_add(&f, xyz);
 *   before a window is classified:   ckd_frame_update(&f);  then ckd_frame_turn(&f, xyz, out) per sample
 *
 * The heading settles as samples accumulate (the first hours on a new animal). Below a mean x-y of
 * 1/64 g (gravity along z: no heading) the frame is the identity, as in training. The Python
 * twin is collar_kd/sim/frame.py; tests/test_frame.py holds the two to the same bits.
 */
#ifndef CKD_FRAME_H
#define CKD_FRAME_H

#include <stdint.h>

#include "ckd_model_params.h"

#ifndef CKD_FRAME /* exports from before data.frame: the sensor frame */
#define CKD_FRAME 0
#endif

typedef struct {
    int64_t sum[2]; /* x and y of every sample added, input format (at most 2^47: no overflow) */
    uint32_t n;     /* samples added; stops at UINT32_MAX (the mean then stays as it is) */
    int32_t c, s;   /* the heading's cosine and sine, Q15 (32768 and 0: no turn) */
} ckd_frame_t;

void ckd_frame_init(ckd_frame_t *f);
void ckd_frame_add(ckd_frame_t *f, const int16_t x[CKD_INPUTS]);
/* The heading of the mean so far: c, s = mean x-y over its length, in Q15 (integer square root). */
void ckd_frame_update(ckd_frame_t *f);
/* out = in turned about z by minus the heading: x' = c x + s y, y' = -s x + c y (rounded, saturated), z' = z. */
void ckd_frame_turn(const ckd_frame_t *f, const int16_t in[CKD_INPUTS], int16_t out[CKD_INPUTS]);

#endif /* CKD_FRAME_H */
