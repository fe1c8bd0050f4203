/* ckd_window_features.c - see ckd_window_features.h. */
#include "ckd_window_features.h"

#include <math.h>

int ckd_wf_init(ckd_wf_ctx_t *ctx, uint32_t t)
{
    if (t == 0u || t > CKD_WF_MAX_T) {
        return -1;
    }
    ctx->t = t;
    for (uint32_t n = 0; n < t; ++n) {
        const double a = 2.0 * 3.14159265358979323846 * (double)n / (double)t;
        ctx->cos_t[n] = (float)cos(a);
        ctx->sin_t[n] = (float)sin(a);
    }
    return 0;
}

/* numpy's 'linear' percentile of sorted values: position q (0..1) * (t - 1), interpolated. */
static float percentile(const float *sorted, uint32_t t, float q)
{
    const float pos = q * (float)(t - 1u);
    uint32_t lo = (uint32_t)pos;
    if (lo >= t - 1u) {
        return sorted[t - 1u];
    }
    const float frac = pos - (float)lo;
    return sorted[lo] + (sorted[lo + 1u] - sorted[lo]) * frac;
}

static void sort(float *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; ++i) {
        const float x = v[i];
        uint32_t j = i;
        while (j > 0u && v[j - 1u] > x) {
            v[j] = v[j - 1u];
            --j;
        }
        v[j] = x;
    }
}

void ckd_window_features(ckd_wf_ctx_t *ctx, const float *window, float *features)
{
    const uint32_t t = ctx->t, bins = t / 2u;
    float std[CKD_WF_SIGNALS];
    for (uint32_t n = 0; n < t; ++n) {
        const float x = window[3u * n], y = window[3u * n + 1u], z = window[3u * n + 2u];
        ctx->signal[0][n] = x;
        ctx->signal[1][n] = y;
        ctx->signal[2][n] = z;
        ctx->signal[3][n] = sqrtf(x * x + y * y + z * z);
    }
    for (uint32_t s = 0; s < CKD_WF_SIGNALS; ++s) {
        float *v = ctx->signal[s];
        float sum = 0.0f, lo = v[0], hi = v[0], mad = 0.0f;
        for (uint32_t n = 0; n < t; ++n) {
            sum += v[n];
            lo = v[n] < lo ? v[n] : lo;
            hi = v[n] > hi ? v[n] : hi;
            if (n > 0u) {
                mad += fabsf(v[n] - v[n - 1u]);
            }
        }
        const float m = sum / (float)t;
        float var = 0.0f;
        for (uint32_t n = 0; n < t; ++n) {
            ctx->sorted[n] = v[n];
            v[n] -= m; /* centred from here on */
            var += v[n] * v[n];
        }
        std[s] = sqrtf(var / (float)t);
        sort(ctx->sorted, t);
        /* the spectrum of the centred signal, bins 1 .. t/2 (DC dropped) */
        float best = -1.0f, energy = 0.0f;
        uint32_t best_bin = 0;
        for (uint32_t k = 1; k <= bins; ++k) {
            float re = 0.0f, im = 0.0f;
            uint32_t idx = 0;
            for (uint32_t n = 0; n < t; ++n) {
                re += v[n] * ctx->cos_t[idx];
                im -= v[n] * ctx->sin_t[idx];
                idx += k;
                idx = idx >= t ? idx - t : idx;
            }
            const float power = re * re + im * im;
            energy += power;
            if (power > best) { /* the first maximum, as argmax */
                best = power;
                best_bin = k - 1u;
            }
        }
        features[0u * CKD_WF_SIGNALS + s] = m;
        features[1u * CKD_WF_SIGNALS + s] = std[s];
        features[2u * CKD_WF_SIGNALS + s] = lo;
        features[3u * CKD_WF_SIGNALS + s] = hi;
        features[4u * CKD_WF_SIGNALS + s] = percentile(ctx->sorted, t, 0.1f);
        features[5u * CKD_WF_SIGNALS + s] = percentile(ctx->sorted, t, 0.5f);
        features[6u * CKD_WF_SIGNALS + s] = percentile(ctx->sorted, t, 0.9f);
        features[7u * CKD_WF_SIGNALS + s] = mad / (float)(t - 1u);
        features[8u * CKD_WF_SIGNALS + s] = (float)best_bin;
        features[9u * CKD_WF_SIGNALS + s] = energy / (float)bins;
    }
    const uint32_t pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (uint32_t p = 0; p < 3u; ++p) {
        const float *a = ctx->signal[pairs[p][0]], *b = ctx->signal[pairs[p][1]];
        float cov = 0.0f;
        for (uint32_t n = 0; n < t; ++n) {
            cov += a[n] * b[n];
        }
        cov /= (float)t;
        features[10u * CKD_WF_SIGNALS + p] = cov / ((std[pairs[p][0]] + 1e-9f) * (std[pairs[p][1]] + 1e-9f));
    }
}

void ckd_window_features_q(ckd_wf_ctx_t *ctx, const int16_t *window, int frac, float *features)
{
    const float scale = ldexpf(1.0f, -frac);
    for (uint32_t i = 0; i < 3u * ctx->t; ++i) {
        ctx->window[i] = (float)window[i] * scale;
    }
    ckd_window_features(ctx, ctx->window, features);
}
