/* Per-session resource limits: ranges, the choice of mechanism, and the
 * child's half (runner/limits_posix.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "limits_posix.h"
#include "tether/wire.h"

static int range_fail(tether__limits_failure *f, const char *field, uint64_t v, uint64_t lo,
                      uint64_t hi) {
  f->error = TETHER_SPAWN_ERR_INVALID;
  f->os_error = 0;
  snprintf(f->message, sizeof f->message,
           "limits.%s = %" PRIu64 " is outside %" PRIu64 "..%" PRIu64 " (0: unset)", field, v,
           lo, hi);
  return -1;
}

int tether__limits_check_ranges(const tether_msg_limits *l, tether__limits_failure *f) {
#define CHECK(field, lo, hi) \
  if (l->field && (l->field < (lo) || l->field > (hi))) return range_fail(f, #field, l->field, lo, hi)
  CHECK(memory_bytes, TETHER_RLIMIT_MEMORY_MIN, TETHER_RLIMIT_MEMORY_MAX);
  CHECK(processes, TETHER_RLIMIT_PROCESSES_MIN, TETHER_RLIMIT_PROCESSES_MAX);
  CHECK(cpu_ms, TETHER_RLIMIT_CPU_MS_MIN, TETHER_RLIMIT_CPU_MS_MAX);
  CHECK(open_files, TETHER_RLIMIT_OPEN_FILES_MIN, TETHER_RLIMIT_OPEN_FILES_MAX);
  CHECK(file_size_bytes, TETHER_RLIMIT_FILE_SIZE_MIN, TETHER_RLIMIT_FILE_SIZE_MAX);
#undef CHECK
  return 0;
}

int tether__limits_prepare(const tether_msg_limits *l, uint32_t session,
                           tether__limits_plan *plan, tether__cgroup **cg,
                           tether__limits_failure *f) {
  memset(plan, 0, sizeof *plan);
  *cg = NULL;
  if (tether__limits_check_ranges(l, f) < 0) return -1;
  bool memory_in_cgroup = false;
  /* A cgroup whenever any limit is set: besides memory and processes it
   * measures the whole tree and lets Terminate reach every process. Only
   * memory and processes make a missing cgroup an error. */
  if (tether__cgroup_create(l->memory_bytes, l->processes, session, plan, cg,
                            &memory_in_cgroup, f) < 0)
    return -1;
  if (l->cpu_ms) {
    /* RLIMIT_CPU counts whole seconds: SIGXCPU at the soft limit, SIGKILL
     * one second later at the hard one. */
    rlim_t s = (rlim_t)((l->cpu_ms + 999) / 1000);
    plan->cpu = true;
    plan->cpu_rl.rlim_cur = s;
    plan->cpu_rl.rlim_max = s + 1;
  }
  if (l->open_files) {
    plan->nofile = true;
    plan->nofile_rl.rlim_cur = plan->nofile_rl.rlim_max = (rlim_t)l->open_files;
  }
  if (l->file_size_bytes) {
    plan->fsize = true;
    plan->fsize_rl.rlim_cur = plan->fsize_rl.rlim_max = (rlim_t)l->file_size_bytes;
  }
  if (l->memory_bytes && !memory_in_cgroup) {
    /* No memory cgroup: each process's address space instead (a
     * per-process bound; allocations fail rather than being OOM-killed). */
    plan->as = true;
    plan->as_rl.rlim_cur = plan->as_rl.rlim_max = (rlim_t)l->memory_bytes;
  }
  return 0;
}

void tether__limits_plan_close(tether__limits_plan *plan) {
  for (int i = 0; i < plan->njoin; i++)
    if (plan->join[i] >= 0) close(plan->join[i]);
  plan->njoin = 0;
}

int tether__limits_child_join(const tether__limits_plan *plan) {
  for (int i = 0; i < plan->njoin; i++) {
    ssize_t n;
    do n = write(plan->join[i], "0", 1); /* "0": the writing process */
    while (n < 0 && errno == EINTR);
    if (n != 1) return n < 0 ? errno : EIO;
  }
  return 0;
}

int tether__limits_child_rlimits(const tether__limits_plan *plan) {
  if (plan->cpu && setrlimit(RLIMIT_CPU, &plan->cpu_rl) < 0) return errno;
  if (plan->nofile && setrlimit(RLIMIT_NOFILE, &plan->nofile_rl) < 0) return errno;
  if (plan->fsize && setrlimit(RLIMIT_FSIZE, &plan->fsize_rl) < 0) return errno;
  if (plan->as && setrlimit(RLIMIT_AS, &plan->as_rl) < 0) return errno;
  return 0;
}
