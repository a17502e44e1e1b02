/* test_sampler.c: the P x K batch sampler (loaders/sampler.h). On labels with 10 identities of
 * 1..7 samples and unlabelled rows (-1), P 3 x K 4: the plan's counts (identities, short ones,
 * singletons, batches = floor(10 / 3), left out); every batch holds 3 distinct identities x 4
 * consecutive rows of that identity, distinct samples where the identity has >= 4, only its own
 * samples otherwise, never an unlabelled row; no identity twice in an epoch; the same (seed,
 * epoch) gives the same order, another epoch or seed another one; over 300 epochs every
 * identity is drawn and every sample of the 7-sample identity is drawn with a frequency within
 * 6 binomial sigma of K / 7 of its draws. Errors: P or K below 2, fewer identities than P, no
 * identity with 2 samples. */
#include <stdlib.h>
#include <string.h>

#include "loaders/sampler.h"
#include "test/testutil.h"
#include <math.h>

static const int COUNTS[10] = {5, 5, 4, 3, 2, 1, 6, 7, 2, 3};
#define P 3
#define K 4

/* labels: identity i (label 100 + 7 i, sparse labels) COUNTS[i] times, interleaved, plus -1 rows */
static int make_labels(int32_t *lab) {
  int n = 0, left[10];
  memcpy(left, COUNTS, sizeof left);
  for (int round = 0; round < 7; round++)
    for (int i = 0; i < 10; i++) {
      if (left[i]-- > 0) lab[n++] = 100 + 7 * i;
      if ((round + i) % 5 == 0) lab[n++] = -1;
    }
  return n;
}

static void test_plan_and_order(void) {
  int32_t lab[200];
  int n = make_labels(lab);
  pb_pk_stats st;
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_pk_plan(lab, n, P, K, &st, &err) == PB_OK, "plan: %s", err.msg);
  PB_CHECK(st.identities == 10 && st.short_ids == 5 && st.singletons == 1 && st.batches == 3 && st.left_out == 1);
  int len = st.batches * P * K;
  int32_t *o = malloc(sizeof(int32_t) * (size_t)len), *o2 = malloc(sizeof(int32_t) * (size_t)len);
  long seen_id[10] = {0}, drawn7[7] = {0}, draws7 = 0;
  int32_t idx7[7], m7 = 0;
  for (int i = 0; i < n; i++)
    if (lab[i] == 100 + 7 * 7) idx7[m7++] = i;
  for (int64_t ep = 0; ep < 300; ep++) {
    pb_pk_order(o, lab, n, P, K, 11, ep, &st);
    int used[10] = {0};
    for (int b = 0; b < st.batches; b++)
      for (int p = 0; p < P; p++) {
        const int32_t *r = o + (b * P + p) * K;
        int ok = 1;
        for (int k = 0; k < K; k++) ok &= r[k] >= 0 && r[k] < n && lab[r[k]] == lab[r[0]] && lab[r[k]] >= 0;
        PB_CHECK_MSG(ok, "epoch %lld batch %d: rows of identity slot %d are not one labelled identity", (long long)ep, b, p);
        int id = (lab[r[0]] - 100) / 7;
        PB_CHECK_MSG(!used[id], "epoch %lld: identity %d twice", (long long)ep, id);
        used[id] = 1;
        seen_id[id]++;
        if (COUNTS[id] >= K)
          for (int a = 0; a < K; a++)
            for (int c = a + 1; c < K; c++) PB_CHECK_MSG(r[a] != r[c], "identity %d: a sample twice", id);
        if (id == 7) {
          draws7++;
          for (int k = 0; k < K; k++)
            for (int j = 0; j < 7; j++) drawn7[j] += r[k] == idx7[j];
        }
      }
    if (ep < 3) {
      pb_pk_order(o2, lab, n, P, K, 11, ep, &st);
      PB_CHECK_MSG(!memcmp(o, o2, sizeof(int32_t) * (size_t)len), "epoch %lld: not deterministic", (long long)ep);
      pb_pk_order(o2, lab, n, P, K, 12, ep, &st);
      PB_CHECK_MSG(memcmp(o, o2, sizeof(int32_t) * (size_t)len), "seed 12 gives seed 11's order");
      pb_pk_order(o2, lab, n, P, K, 11, ep + 1, &st);
      PB_CHECK_MSG(memcmp(o, o2, sizeof(int32_t) * (size_t)len), "epoch %lld + 1 gives the same order", (long long)ep);
    }
  }
  for (int i = 0; i < 10; i++) PB_CHECK_MSG(seen_id[i] > 0, "identity %d never drawn in 300 epochs", i);
  /* each of identity 7's samples: Binomial(draws7, 4/7) */
  double q = (double)K / 7, sd = sqrt(draws7 * q * (1 - q));
  for (int j = 0; j < 7; j++)
    PB_CHECK_MSG(fabs(drawn7[j] - draws7 * q) <= 6 * sd, "identity 7 sample %d drawn %ld of %ld epochs (expected %.1f)", j,
                 drawn7[j], draws7, draws7 * q);
  printf("ok   %d batches of %d x %d per epoch; identity 7 drawn in %ld of 300 epochs\n", st.batches, P, K, draws7);
  free(o);
  free(o2);
}

static void expect_err(const int32_t *lab, int n, int p, int k, const char *frag) {
  pb_pk_stats st;
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_pk_plan(lab, n, p, k, &st, &err) == PB_ERR && strstr(err.msg, frag), "P %d K %d: '%s' lacks '%s'", p,
               k, err.msg, frag);
  printf("ok   P %d K %d: %s\n", p, k, err.msg);
}

static void test_errors(void) {
  int32_t lab[200];
  int n = make_labels(lab);
  expect_err(lab, n, 1, 4, "P >= 2");
  expect_err(lab, n, 3, 1, "K >= 2");
  expect_err(lab, n, 11, 2, "the data has 10 identities");
  int32_t single[5] = {0, 1, 2, 3, -1};
  expect_err(single, 5, 2, 2, "no identity of the 4 has 2 samples");
}

int main(void) {
  test_plan_and_order();
  test_errors();
  return pb_test_exit("test_sampler");
}
