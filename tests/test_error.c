/* tether_strerror / tether_err_name: every code named, unknown codes safe. */
#include <string.h>

#include "harness.h"
#include "tether/error.h"

TEST(ok_names) {
  CHECK_EQ_STR(tether_strerror(0), "success");
  CHECK_EQ_STR(tether_err_name(0), "TETHER_OK");
}

TEST(every_code_named) {
  int count = 0;
#define X(name, value, msg)                                                 \
  CHECK_EQ_STR(tether_err_name(value), "TETHER_E" #name);                   \
  CHECK_EQ_STR(tether_strerror(value), msg);                                \
  CHECK(strcmp(tether_strerror(value), "unknown error") != 0);              \
  count++;
  TETHER_ERRNO_MAP(X)
#undef X
  CHECK_EQ_INT(count, -(TETHER_E__LAST + 1));
}

TEST(codes_dense_and_unique) {
  /* Every value from -1 down to the last is used exactly once. */
  for (int c = -1; c > TETHER_E__LAST; c--)
    CHECK(strcmp(tether_err_name(c), "TETHER_EUNKNOWN") != 0);
}

TEST(unknown_codes) {
  int bad[] = { 1, 42, TETHER_E__LAST, -1000, -2147483647 - 1, 2147483647 };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_STR(tether_strerror(bad[i]), "unknown error");
    CHECK_EQ_STR(tether_err_name(bad[i]), "TETHER_EUNKNOWN");
  }
}

TEST(specific) {
  CHECK_EQ_STR(tether_err_name(TETHER_EFRAME_TOO_LARGE), "TETHER_EFRAME_TOO_LARGE");
  CHECK(strstr(tether_strerror(TETHER_EPREFACE), "not a tether peer") != NULL);
  CHECK_EQ_INT(TETHER_EAGAIN, -1);
  CHECK_EQ_INT(TETHER_EADDRESS, -31);
}

TEST_MAIN(TEST_ENTRY(ok_names), TEST_ENTRY(every_code_named),
          TEST_ENTRY(codes_dense_and_unique), TEST_ENTRY(unknown_codes),
          TEST_ENTRY(specific))
