/* main_loop.c - how a collar or ear-tag firmware runs the exported model (an example to copy).
 *
 * At start-up the weights in flash are check-summed against the export (ckd_weights_ok); a
 * corrupted image is reported and never used. Then every accelerometer sample, as raw counts at
 * the model's rate (CKD_SAMPLE_RATE_MILLIHZ), goes into the streaming API; a window of
 * CKD_WINDOW samples is classified every STRIDE samples (overlapping windows, as in training).
 * The samples are kept once, in the stream's ring: about 6 bytes per sample of window.
 *
 * The three functions the firmware provides are declared below; nothing else is needed.
 */
#include <stdint.h>

#include "ckd_model.h"
#include "ckd_stream.h"

#ifndef STRIDE
#define STRIDE (CKD_WINDOW / 2u) /* a new class every half window */
#endif
#ifndef COUNTS_SHIFT
#define COUNTS_SHIFT 12 /* the sensor's counts per g = 2^12 (e.g. a +-8 g, 16-bit accelerometer) */
#endif

/* Provided by the firmware: block until the next sample (x, y, z raw counts), report a class,
 * report a fault. */
void app_wait_for_sample(int32_t counts[CKD_INPUTS]);
void app_report_behaviour(int cls, const int32_t logits[CKD_CLASSES]);
void app_report_fault(uint32_t found_crc, uint32_t expected_crc);

static ckd_stream_t stream; /* one window of samples + counters */
static ckd_state_t state;   /* the GRU's state and scratch */

int collar_kd_main_loop(void)
{
    if (!ckd_weights_ok()) {
        app_report_fault(ckd_weights_crc32(), CKD_WEIGHTS_CRC32);
        return -1;
    }
    if (ckd_stream_init(&stream, STRIDE, COUNTS_SHIFT) != 0) {
        return -1;
    }
    for (;;) {
        int32_t counts[CKD_INPUTS];
        int32_t logits[CKD_CLASSES];
        app_wait_for_sample(counts);
        const int cls = ckd_stream_push(&stream, &state, counts, logits);
        if (cls >= 0) {
            app_report_behaviour(cls, logits);
        }
    }
}
