/* test_nhwc_models.c: [run] layout = nhwc through whole models on the CPU reference: the cases of
 * test/engine/nhwc_cases.h (every conv arch family, NHWC against NCHW with the same weights and
 * batch) on two CPU contexts. */
#include "test/engine/nhwc_cases.h"

int main(void) {
  pb_ctx cc, ch;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&cc, "cpu", 2, 1, 0, &err) == PB_OK);
  PB_ASSERT(pb_ctx_init(&ch, "cpu", 2, 1, 0, &err) == PB_OK);
  ch.nhwc = 1;
  nhwc_all_cases(&cc, &ch);
  pb_ctx_free(&cc), pb_ctx_free(&ch);
  return pb_test_exit("test_nhwc_models");
}
