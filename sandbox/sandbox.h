/* Permission profiles: the runner's decision and enforcement (docs/SANDBOX.md).
 *
 *   at start       tether__sandbox_probe: what this kernel/platform can
 *                  enforce; the runner lists CAPABILITY_PERMISSION_PROFILES
 *                  in Hello only if `enforced`.
 *   per Spawn      tether__sandbox_decide (in the runner, before fork):
 *                  version gate, modes, --allow-full-access, resolution
 *                  (profile.h), a debug log line with the resolved paths,
 *                  and everything the child will need prepared (a
 *                  Landlock ruleset fd with its rules, id-map strings,
 *                  mount flags).
 *   in the child   tether__sandbox_child_apply, after fork and before exec:
 *                  async-signal-safe system calls only.
 *
 * Linux: sandbox/enforce_linux.c (Landlock: landlock_linux.c; namespaces:
 * netns_linux.c; the read-only mount tree and binds: mounts_linux.c; the
 * seccomp filter: seccomp_linux.c). Elsewhere: enforce_none.c, which enforces
 * nothing and so refuses every restricting profile. Not installed. */
#ifndef TETHER_SANDBOX_SANDBOX_H
#define TETHER_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/profile.h"

typedef struct tether__sandbox_support {
  int landlock_abi;     /* 0: no Landlock */
  bool netns;           /* a fresh network namespace can be created */
  bool mountns;         /* a private mount namespace (read-only binds) can be created */
  bool mount_setattr;   /* ... and its whole tree made read-only (Linux 5.12) */
  bool ipcns;           /* a private IPC namespace can be created */
  bool seccomp;         /* seccomp filters can be built (libseccomp) and loaded */
  bool userns;          /* namespaces need CLONE_NEWUSER (not root) */
  bool root;            /* euid 0 */
  bool enforced;        /* all of it works: profiles are enforced */
  char missing[256];    /* what is missing when !enforced (for messages) */
} tether__sandbox_support;

/* Probes this kernel: landlock_create_ruleset(VERSION), and forked children
 * that create the namespaces as a Spawn would (they make system calls only,
 * so a multi-threaded caller is fine; each is reaped by pid). Done once per
 * process; later calls copy the result. */
void tether__sandbox_probe(tether__sandbox_support *s);

typedef struct tether__sandbox_policy {
  uint32_t version;         /* the connection's agreed protocol version */
  bool allow_full_access;   /* tether-runner --allow-full-access */
  bool debug;               /* log each decision to stderr (TETHER_LOG=debug) */
  uint32_t session;         /* for the log line */
  const char *log_name;     /* "tether-runner" */
  tether__sandbox_support support;
} tether__sandbox_policy;

/* Fills a policy from the probe; debug from the environment
 * (TETHER_LOG contains "debug"). */
void tether__sandbox_policy_init(tether__sandbox_policy *pol, const char *log_name);

typedef struct tether__sandbox_plan tether__sandbox_plan;

/* The permission decision for one Spawn (logged when pol->debug). 0 with
 * *plan NULL: nothing to enforce (no profile, or one that restricts
 * nothing that needs enforcing); 0 with *plan: enforce it in the child; -1:
 * refuse the Spawn with SpawnFailed{PERMISSIONS, f->error, f->os_error,
 * f->message}. */
int tether__sandbox_decide(const tether_msg_spawn *req, const tether__sandbox_policy *pol,
                           tether__sandbox_plan **plan, tether__sandbox_failure *f);
void tether__sandbox_plan_free(tether__sandbox_plan *p);

/* In the child, after fork, before chdir(Spawn.cwd) and exec:
 * async-signal-safe. The child must already lead a session of its own
 * (setsid; a pty session's attach does it), else this fails. 0, or a packed code for tether__sandbox_child_error
 * (the step that failed and its errno). Every descriptor the plan owns is
 * >= 3, so the child's dup2s onto 0..2 leave them alone. */
int tether__sandbox_child_apply(const tether__sandbox_plan *p);

/* Unpacks a child_apply code of plan `p`: the SpawnError to report, the
 * errno (*os_error), and what failed in `buf`, e.g. "unshare(CLONE_NEWNET)". */
uint32_t tether__sandbox_child_error(const tether__sandbox_plan *p, int packed, int *os_error,
                                     char *buf, size_t len);

/* ---- platform parts (enforce_linux.c / enforce_none.c) ---- */
void tether__sandbox_platform_probe(tether__sandbox_support *s);
/* Builds the plan for a resolved profile. -1 with `f` filled. */
int tether__sandbox_prepare(const tether__sandbox_resolved *r, const tether__sandbox_support *s,
                            tether__sandbox_plan **plan, tether__sandbox_failure *f);

#endif
