/* tether — the few platform types that appear in public headers. */
#ifndef TETHER_OS_H
#define TETHER_OS_H

#include <stddef.h>

#ifdef _WIN32
#  include "tether/os_win.h"
#else
#  include "tether/os_posix.h"
#endif

#endif
