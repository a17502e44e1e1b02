/* calibration.h: confidence calibration (reliability table, ECE, MCE) as pure functions over
 * host arrays, the way the classic torch ECE code (Guo et al. 2017, gpleiss/temperature_scaling
 * _ECELoss) and facebookresearch/cv_bias_amplification compute it (../shared/REFERENCES.md "Bias
 * amplification"). No twin: evaluation runs on the host. Reference values:
 * scripts/fixtures/metrics_calib_biasamp.py (torch), checked by test/metrics/test_calibration.c.
 *
 * Per sample: confidence c = the largest softmax probability, in float32; prediction = argmax
 * (the first maximum on ties). Bins: boundaries b[0..nbins] are float32 values as torch.linspace(0,
 * 1, nbins + 1) computes them (see pb_calib_boundaries); bin i holds b[i] < c <= b[i+1], exactly
 * the reference's conf.gt(lower) * conf.le(upper) in float32. Two extensions where the reference
 * drops the sample from every bin: c == 0 (only possible from pb_calib_from_probs) goes to bin 0,
 * c > 1 to the last bin. A NaN confidence is in no bin and counted in n_nan.
 * Per bin (double): count, correct, acc = correct / count, conf = mean of the float32 confidences
 * summed in double. ECE = sum over non-empty bins of (count / n) |acc - conf| with n the samples in
 * bins; MCE = max over non-empty bins of |acc - conf|; empty bins are skipped. With n == 0 every
 * aggregate is NaN. */
#ifndef PB_METRICS_CALIBRATION_H
#define PB_METRICS_CALIBRATION_H

#include <stdint.h>

#define PB_CALIB_DEFAULT_BINS 15
#define PB_CALIB_MAX_BINS 100

typedef struct pb_calib_bin {
  float lower, upper; /* the bin is (lower, upper], float32 linspace values */
  long count, correct;
  double acc, conf;   /* correct / count and mean confidence; NaN when count == 0 */
} pb_calib_bin;

typedef struct pb_calib {
  int nbins;
  long n;             /* samples in bins: labelled (label >= 0, and < k where k is known), in the
                         mask, with a non-NaN confidence */
  long correct;       /* of those, prediction == label */
  long n_nan;         /* labelled samples in the mask left out for a NaN confidence */
  double accuracy;    /* correct / n */
  double mean_conf;   /* mean confidence over the n samples */
  double ece, mce;    /* NaN when n == 0 */
  pb_calib_bin bins[PB_CALIB_MAX_BINS];
} pb_calib;

/* b[0..nbins] as torch 1.13's CPU linspace kernel computes them in float32, scalar path:
 * step = 1.0f / nbins; b[i] = step * i for i < (nbins + 1) / 2, else 1.0f - step * (nbins - i);
 * every product and difference rounded to float32 on its own (never fused). This equals this
 * project's torch.linspace(0, 1, nbins + 1) bit for bit for nbins = 1..8, 10..12, 15, 16, 19 (the
 * fixture checks 5, 10, 15); for some other nbins torch's result depends on its build (FMA
 * contraction, vectorized lanes) and may differ in the last bit. 1 <= nbins <= PB_CALIB_MAX_BINS. */
void pb_calib_boundaries(int nbins, float *b);

/* The bin of confidence c under boundaries b (see above): the i with b[i] < c <= b[i+1], c <= 0
 * gives 0 and c > 1 gives nbins - 1; -1 for NaN. */
int pb_calib_bin_of(float c, const float *b, int nbins);

/* Max softmax of one row of k float32 logits, and its argmax (first maximum): m = max x_j;
 * e_j = expf(x_j - m) (difference and exponential in float32); s = sum of e_j in double; the
 * result is (float)(1.0 / s), one rounding, since the largest e_j is expf(0) = 1. *pred = -1 and
 * NaN when the row has a NaN. k >= 1. */
float pb_calib_softmax_conf(const float *x, int k, int32_t *pred);

/* The reliability table of n samples. logits [n, k] (or probs [n, k], rows of probabilities; the
 * confidence is the largest entry as given, the prediction its first argmax) row-major; labels
 * [n]: a label < 0 or >= k is missing and the sample left out. mask [n] or NULL: only samples with
 * mask[i] != 0 count (a subset, e.g. one group: eval computes calibration per group by passing
 * mask[i] = (group[i] == g)). 1 <= nbins <= PB_CALIB_MAX_BINS (PB_CALIB_DEFAULT_BINS = 15 as the
 * references), n >= 0. Cannot fail; nothing is allocated. */
void pb_calib_from_logits(const float *logits, const int32_t *labels, long n, int k, int nbins, const uint8_t *mask,
                          pb_calib *out);
void pb_calib_from_probs(const float *probs, const int32_t *labels, long n, int k, int nbins, const uint8_t *mask,
                         pb_calib *out);
/* The same from per-sample confidences conf [n] and predictions pred [n] already computed; a
 * label < 0 is missing. */
void pb_calib_from_conf(const float *conf, const int32_t *pred, const int32_t *labels, long n, int nbins,
                        const uint8_t *mask, pb_calib *out);

#endif
