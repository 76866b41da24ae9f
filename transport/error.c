/* tether_strerror / tether_err_name, generated from the one X-macro list in
 * tether/error.h so a new code cannot be added without its name and text. */
#include "tether/error.h"

const char *tether_strerror(int code) {
  switch (code) {
  case TETHER_OK:
    return "success";
#define TETHER__ERR_MSG(name, value, msg) \
  case TETHER_E##name:                    \
    return msg;
    TETHER_ERRNO_MAP(TETHER__ERR_MSG)
#undef TETHER__ERR_MSG
  default:
    return "unknown error";
  }
}

const char *tether_err_name(int code) {
  switch (code) {
  case TETHER_OK:
    return "TETHER_OK";
#define TETHER__ERR_NAME(name, value, msg) \
  case TETHER_E##name:                     \
    return "TETHER_E" #name;
    TETHER_ERRNO_MAP(TETHER__ERR_NAME)
#undef TETHER__ERR_NAME
  default:
    return "TETHER_EUNKNOWN";
  }
}
