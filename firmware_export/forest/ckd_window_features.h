/* ckd_window_features.h - the random-forest baseline's window statistics in float C, as a device
 * would compute them before the forest (collar_kd/evaluation/baseline.py:window_features, in the
 * same order): per axis x, y, z and the magnitude: mean, std, min, max, 10/50/90th percentile,
 * mean |diff|, dominant frequency bin and spectral energy; then the three axis correlations.
 * Floating point (the forest is the float baseline, not the integer student). The caller owns every
 * buffer: the twiddle tables and the scratch. */
#ifndef CKD_WINDOW_FEATURES_H
#define CKD_WINDOW_FEATURES_H

#include <stdint.h>

#define CKD_WF_SIGNALS 4
#define CKD_WF_FEATURES (10 * CKD_WF_SIGNALS + 3) /* 43 */
#ifndef CKD_WF_MAX_T
#define CKD_WF_MAX_T 128 /* size it to the window: the context holds 40 bytes per sample */
#endif

typedef struct {
    uint32_t t;                /* samples per window */
    float cos_t[CKD_WF_MAX_T]; /* cos(2 pi n / t), sin(2 pi n / t): the DFT's twiddles */
    float sin_t[CKD_WF_MAX_T];
    float signal[CKD_WF_SIGNALS][CKD_WF_MAX_T]; /* scratch */
    float sorted[CKD_WF_MAX_T];                 /* scratch */
    float window[3 * CKD_WF_MAX_T];             /* scratch for ckd_window_features_q */
} ckd_wf_ctx_t;

/* 0, or -1 if t is 0 or above CKD_WF_MAX_T. */
int ckd_wf_init(ckd_wf_ctx_t *ctx, uint32_t t);

/* window: t samples of (x, y, z) in g; features: CKD_WF_FEATURES values. */
void ckd_window_features(ckd_wf_ctx_t *ctx, const float *window, float *features);

/* The same from int16 samples in Q frac (value * 2^-frac g), as the student's input. */
void ckd_window_features_q(ckd_wf_ctx_t *ctx, const int16_t *window, int frac, float *features);

#endif /* CKD_WINDOW_FEATURES_H */
