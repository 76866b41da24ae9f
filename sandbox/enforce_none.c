/* Platforms without an enforcement here (anything but Linux): nothing can
 * be enforced, so every restricting profile is refused (fail closed) and
 * CAPABILITY_PERMISSION_PROFILES is never announced. A sandboxing runner
 * for such a platform plugs in its own enforcement behind sandbox.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox.h"

struct tether__sandbox_plan {
  int unused;
};

void tether__sandbox_platform_probe(tether__sandbox_support *s) {
  s->enforced = false;
  snprintf(s->missing, sizeof s->missing,
           "permission profiles are enforced on Linux only (Landlock, namespaces)");
}

int tether__sandbox_prepare(const tether__sandbox_resolved *r, const tether__sandbox_support *s,
                            tether__sandbox_plan **plan, tether__sandbox_failure *f) {
  (void)r;
  *plan = NULL;
  f->error = TETHER_SPAWN_ERR_UNSUPPORTED;
  f->os_error = 0;
  snprintf(f->message, sizeof f->message, "%s", s->missing);
  return -1;
}

void tether__sandbox_plan_free(tether__sandbox_plan *p) { (void)p; }

int tether__sandbox_child_apply(const tether__sandbox_plan *p) {
  (void)p;
  return ENOSYS;
}

uint32_t tether__sandbox_child_error(const tether__sandbox_plan *p, int packed, int *os_error,
                                     char *buf, size_t len) {
  (void)p;
  *os_error = packed & 0xffff;
  snprintf(buf, len, "permission profiles are not enforced on this platform");
  return TETHER_SPAWN_ERR_UNSUPPORTED;
}
