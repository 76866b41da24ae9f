/* The permission decision for one Spawn (portable part; see sandbox.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "transport/compat.h"
#include "tether/error.h"

/* The kernel does not change under a running process: probed once per
 * process (each probe forks), then copied. */
static tether__sandbox_support probed;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe_now(void) {
  memset(&probed, 0, sizeof probed);
  tether__sandbox_platform_probe(&probed);
}

void tether__sandbox_probe(tether__sandbox_support *s) {
  pthread_once(&probe_once, probe_now);
  *s = probed;
}

void tether__sandbox_policy_init(tether__sandbox_policy *pol, const char *log_name) {
  memset(pol, 0, sizeof *pol);
  pol->log_name = log_name ? log_name : "tether-runner";
  const char *lv = getenv("TETHER_LOG");
  pol->debug = lv && strstr(lv, "debug") != NULL;
  tether__sandbox_probe(&pol->support);
}

TETHER__PRINTF(2, 3)
static void logd(const tether__sandbox_policy *pol, const char *fmt, ...) {
  if (!pol->debug) return;
  char line[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: debug: session %u: permissions: %s\n", pol->log_name, pol->session, line);
}

TETHER__PRINTF(5, 6)
static int refuse(const tether__sandbox_policy *pol, tether__sandbox_failure *f, uint32_t error,
                  int os_error, const char *fmt, ...) {
  f->error = error;
  f->os_error = os_error;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  va_end(ap);
  logd(pol, "refused: %s", f->message);
  return -1;
}

int tether__sandbox_decide(const tether_msg_spawn *req, const tether__sandbox_policy *pol,
                           tether__sandbox_plan **plan, tether__sandbox_failure *f) {
  *plan = NULL;
  memset(f, 0, sizeof *f);
  const tether_msg_profile *p = &req->profile;
  if (!pol) { /* a caller without a policy enforces nothing: fail closed */
    if (!req->has_profile || !tether__sandbox_requested(p)) return 0;
    f->error = TETHER_SPAWN_ERR_UNSUPPORTED;
    snprintf(f->message, sizeof f->message, "permission profiles are not enforced here");
    return -1;
  }
  if (!req->has_profile || !tether__sandbox_requested(p)) {
    logd(pol, "no profile: unrestricted");
    return 0;
  }
  /* Version 1 gave profiles no enforced meaning: never guess (fail closed). */
  if (pol->version < 2)
    return refuse(pol, f, TETHER_SPAWN_ERR_UNSUPPORTED, 0,
                  "permission profiles need protocol version 2; this connection agreed on "
                  "version %u",
                  pol->version);
  char why[256];
  int rc = tether__sandbox_check(p, req->profile_cwd, why, sizeof why);
  if (rc == TETHER_EUNSUPPORTED)
    return refuse(pol, f, TETHER_SPAWN_ERR_UNSUPPORTED, 0, "cannot enforce the profile: %s", why);
  if (rc == TETHER_ELIMIT_ROOTS || rc == TETHER_ELIMIT_PATH)
    return refuse(pol, f, TETHER_SPAWN_ERR_LIMIT, 0, "%s", why);
  if (rc < 0) return refuse(pol, f, TETHER_SPAWN_ERR_INVALID, 0, "bad permission profile: %s", why);
  if (p->filesystem == TETHER_FS_FULL_ACCESS && !pol->allow_full_access)
    return refuse(pol, f, TETHER_SPAWN_ERR_PERMISSION_DENIED, 0,
                  "filesystem mode full-access is refused: the runner was not started with "
                  "--allow-full-access");
  bool restricts = p->filesystem == TETHER_FS_READ_ONLY ||
                   p->filesystem == TETHER_FS_WORKSPACE_WRITE ||
                   p->network == TETHER_NET_DENIED;
  if (!restricts) {
    logd(pol, "%s, network allowed: nothing to enforce", tether__sandbox_fs_name(p->filesystem));
    return 0;
  }
  if (!pol->support.enforced)
    return refuse(pol, f, TETHER_SPAWN_ERR_UNSUPPORTED, 0,
                  "this runner cannot enforce permission profiles here: %s",
                  pol->support.missing);

  /* The runner's temp dir, not the Spawn's environment: $TMPDIR, else /tmp. */
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !tmp[0]) tmp = "/tmp";
  tether__sandbox_resolved res;
  if (tether__sandbox_resolve(p, req->profile_cwd, tmp, &res, f) < 0) {
    tether__sandbox_resolved_free(&res);
    logd(pol, "refused: %s", f->message);
    return -1;
  }
  res.tty = req->io_mode == TETHER__IO_PTY;
  char desc[1024];
  tether__sandbox_describe(&res, desc, sizeof desc);
  rc = tether__sandbox_prepare(&res, &pol->support, plan, f);
  tether__sandbox_resolved_free(&res);
  if (rc < 0) {
    logd(pol, "refused (%s): %s", desc, f->message);
    return -1;
  }
  logd(pol, "%s", desc);
  return 0;
}
