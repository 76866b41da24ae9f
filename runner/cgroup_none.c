/* No cgroups on this platform (runner/limits_posix.h): memory falls back
 * to RLIMIT_AS, and a process limit cannot be enforced. */
#include <stdio.h>
#include <string.h>

#include "limits_posix.h"
#include "tether/wire.h"

int tether__cgroup_create(uint64_t memory, uint64_t pids, uint32_t session,
                          tether__limits_plan *plan, tether__cgroup **out,
                          bool *memory_enforced, tether__limits_failure *f) {
  (void)memory;
  (void)session;
  (void)plan;
  *out = NULL;
  *memory_enforced = false;
  if (!pids) return 0;
  f->error = TETHER_SPAWN_ERR_UNSUPPORTED;
  f->os_error = 0;
  snprintf(f->message, sizeof f->message,
           "limits.processes cannot be enforced: no cgroups on this platform");
  return -1;
}

uint32_t tether__cgroup_limit_hit(tether__cgroup *cg) {
  (void)cg;
  return TETHER_LIMIT_NONE;
}

void tether__cgroup_usage(tether__cgroup *cg, uint64_t *peak, uint64_t *cpu_us) {
  (void)cg;
  *peak = *cpu_us = 0;
}

void tether__cgroup_kill(tether__cgroup *cg) { (void)cg; }

void tether__cgroup_free(tether__cgroup *cg) { (void)cg; }
