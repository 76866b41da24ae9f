/* tether_version(): in every tether library (tether/version.h). */
#include "tether/version.h"

unsigned tether_version(void) { return TETHER_VERSION_NUM; }

const char *tether_version_string(void) { return TETHER_VERSION_STRING; }
