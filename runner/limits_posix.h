/* Per-session resource limits on POSIX (Spawn.limits, protocol version 3):
 * what the runner prepares before a spawn, what the child applies before
 * exec, and what the runner learns afterwards. The cgroup part is Linux
 * only (cgroup_linux.c; cgroup_none.c elsewhere). */
#ifndef TETHER_RUNNER_LIMITS_POSIX_H
#define TETHER_RUNNER_LIMITS_POSIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "codec/msg.h"

#define TETHER__CGROUP_JOIN_MAX 5 /* v2 + the v1 memory, pids, freezer, cpuacct */

/* What the child does between fork and exec; async-signal-safe. */
typedef struct tether__limits_plan {
  int join[TETHER__CGROUP_JOIN_MAX]; /* cgroup.procs of each session cgroup */
  int njoin;
  bool cpu, nofile, fsize, as;
  struct rlimit cpu_rl, nofile_rl, fsize_rl, as_rl;
} tether__limits_plan;

/* One session's cgroup (a directory per hierarchy in use). */
typedef struct tether__cgroup tether__cgroup;

/* Why a set limit cannot be enforced: filled on failure. */
typedef struct tether__limits_failure {
  uint32_t error;    /* TETHER_SPAWN_ERR_* */
  int os_error;
  char message[400]; /* printable ASCII */
} tether__limits_failure;

/* ---- limits_posix.c ---- */
/* Checks `lim` against TETHER_RLIMIT_* and decides the mechanism for each
 * set field: a session cgroup for memory and processes (and to measure
 * and kill the whole tree), rlimits for CPU, open files, file size, and
 * RLIMIT_AS for memory when no memory cgroup can be made. Fills `plan`
 * and, when one is needed, creates `*cg`. -1 with `f` filled when a set
 * limit cannot be enforced (nothing is left behind then). */
int tether__limits_prepare(const tether_msg_limits *lim, uint32_t session,
                           tether__limits_plan *plan, tether__cgroup **cg,
                           tether__limits_failure *f);
/* After the spawn (either outcome): closes the plan's descriptors. */
void tether__limits_plan_close(tether__limits_plan *plan);
/* In the child, first thing after fork: joins the session cgroup. */
int tether__limits_child_join(const tether__limits_plan *plan);
/* In the child, just before exec: the rlimits. 0 or an errno. */
int tether__limits_child_rlimits(const tether__limits_plan *plan);
/* Checks that every set field lies in its TETHER_RLIMIT_* range. 0, or -1
 * with `f` naming the field (TETHER_SPAWN_ERR_INVALID). */
int tether__limits_check_ranges(const tether_msg_limits *lim, tether__limits_failure *f);

/* ---- cgroup_linux.c / cgroup_none.c ---- */
/* Creates the session cgroup with memory (`memory` bytes, 0: none) and
 * process (`pids`, 0: none) limits; opens cgroup.procs of each directory
 * into plan->join. `need_memory`/`need_pids` say the limit must be
 * enforced (else a missing controller is not an error). -1 with `f`. */
int tether__cgroup_create(uint64_t memory, uint64_t pids, uint32_t session,
                          tether__limits_plan *plan, tether__cgroup **out,
                          bool *memory_enforced, tether__limits_failure *f);
/* TETHER_LIMIT_MEMORY or _PROCESSES once the kernel reports the limit was
 * hit (an OOM kill; a refused fork), else TETHER_LIMIT_NONE. */
uint32_t tether__cgroup_limit_hit(tether__cgroup *cg);
/* Whole-tree usage measured by the cgroup (0: not measured). */
void tether__cgroup_usage(tether__cgroup *cg, uint64_t *peak_memory_bytes, uint64_t *cpu_us);
/* SIGKILL to every process of the session, however it daemonized. */
void tether__cgroup_kill(tether__cgroup *cg);
/* Kills what is left and removes the directories. Accepts NULL. */
void tether__cgroup_free(tether__cgroup *cg);

#endif
