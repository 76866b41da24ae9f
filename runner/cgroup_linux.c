/* A cgroup per session (runner/limits_posix.h): cgroup v2 where the
 * controllers are there, the v1 memory, pids, freezer and cpuacct
 * hierarchies where only those are (hybrid systems), found from
 * /proc/self/mountinfo and /proc/self/cgroup. Session cgroups are children
 * of the runner's own cgroup in each hierarchy. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "limits_posix.h"
#include "tether/wire.h"

enum { V2, MEM, PIDS, FREEZER, CPUACCT, NH };
static const char *const v1_name[NH] = { NULL, "memory", "pids", "freezer", "cpuacct" };

struct tether__cgroup {
  char dir[NH][PATH_MAX]; /* "" where this hierarchy is not used */
  bool mem_v2, pids_v2;   /* the limit lives in the v2 directory */
};

typedef struct hier {
  char mnt[PATH_MAX];  /* where the hierarchy is mounted; "" if not */
  char root[PATH_MAX]; /* the mount's root inside the hierarchy */
  char self[PATH_MAX]; /* the runner's cgroup in the hierarchy */
} hier;

static void bounded_copy(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src);
}

static bool has_word(const char *list, const char *w, char sep) {
  size_t n = strlen(w);
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, sep);
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == n && !strncmp(p, w, n)) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

/* mountinfo: "id parent maj:min root mountpoint opts [tags] - fstype src superopts". */
static void find_mounts(hier h[NH]) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    char root[PATH_MAX], mnt[PATH_MAX];
    if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2) continue;
    char *dash = strstr(line, " - ");
    if (!dash) continue;
    char fstype[64], super[1024];
    if (sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2) continue;
    for (int i = 0; i < NH; i++) {
      bool match = i == V2 ? !strcmp(fstype, "cgroup2")
                           : !strcmp(fstype, "cgroup") && has_word(super, v1_name[i], ',');
      if (match && !h[i].mnt[0]) {
        bounded_copy(h[i].mnt, sizeof h[i].mnt, mnt);
        bounded_copy(h[i].root, sizeof h[i].root, root);
      }
    }
  }
  fclose(f);
}

/* /proc/self/cgroup: "id:controllers:path"; v2 is "0::path". */
static void find_self(hier h[NH]) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c1 = *c2 = '\0';
    const char *ctrls = c1 + 1, *path = c2 + 1;
    for (int i = 0; i < NH; i++) {
      bool match = i == V2 ? !strcmp(line, "0") && !*ctrls : has_word(ctrls, v1_name[i], ',');
      if (!match || !h[i].mnt[0]) continue;
      /* The path is relative to the hierarchy's root; the mount shows the
       * subtree at h.root (a container's view). */
      size_t rl = strlen(h[i].root);
      const char *rel = path;
      if (strcmp(h[i].root, "/") && !strncmp(path, h[i].root, rl)) rel = path + rl;
      if ((size_t)snprintf(h[i].self, sizeof h[i].self, "%s%s", h[i].mnt, rel) >= sizeof h[i].self)
        h[i].self[0] = '\0'; /* too long to use */
    }
  }
  fclose(f);
}

static int write_file(const char *dir, const char *file, const char *val) {
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, val, strlen(val));
  int e = n < 0 ? errno : 0;
  close(fd);
  return e;
}

static bool file_exists(const char *dir, const char *file) {
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  return access(p, F_OK) == 0;
}

/* Reads the value after `key` (a line "key value"), or the whole file as a
 * number when key is NULL. */
static bool read_value(const char *dir, const char *file, const char *key, uint64_t *v) {
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  FILE *f = fopen(p, "re");
  if (!f) return false;
  char line[256];
  bool ok = false;
  while (!ok && fgets(line, sizeof line, f)) {
    if (!key) {
      ok = sscanf(line, "%" SCNu64, v) == 1;
    } else {
      size_t kl = strlen(key);
      if (!strncmp(line, key, kl) && line[kl] == ' ') ok = sscanf(line + kl + 1, "%" SCNu64, v) == 1;
    }
  }
  fclose(f);
  return ok;
}

static bool controller_listed(const char *dir, const char *file, const char *name) {
  char p[PATH_MAX + 64], buf[512];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  return has_word(buf, name, ' ');
}

/* v2: `name` usable for children of `self` (listed and enabled in its
 * subtree_control, enabling it if we may). */
static bool v2_controller(const char *self, const char *name) {
  if (!controller_listed(self, "cgroup.controllers", name)) return false;
  if (controller_listed(self, "cgroup.subtree_control", name)) return true;
  char plus[32];
  snprintf(plus, sizeof plus, "+%s", name);
  /* EBUSY when the runner's own cgroup holds processes and is not the
   * root ("no internal processes"): then v2 cannot limit it here. */
  return write_file(self, "cgroup.subtree_control", plus) == 0;
}

static int fail(tether__limits_failure *f, int err, const char *what, const char *where) {
  f->error = err == EACCES || err == EPERM ? TETHER_SPAWN_ERR_PERMISSION_DENIED
                                           : TETHER_SPAWN_ERR_UNSUPPORTED;
  f->os_error = err;
  if (snprintf(f->message, sizeof f->message, "%s: %s%s%s", what, where, err ? ": " : "",
               err ? strerror(err) : "") < 0)
    f->message[0] = '\0';
  return -1;
}

int tether__cgroup_create(uint64_t memory, uint64_t pids, uint32_t session,
                          tether__limits_plan *plan, tether__cgroup **out,
                          bool *memory_enforced, tether__limits_failure *f) {
  static unsigned seq;
  hier h[NH];
  memset(h, 0, sizeof h);
  *out = NULL;
  *memory_enforced = false;
  find_mounts(h);
  find_self(h);
  tether__cgroup *cg = calloc(1, sizeof *cg);
  if (!cg) return fail(f, ENOMEM, "limits", "session cgroup");
  char name[64];
  snprintf(name, sizeof name, "tether-%ld-%" PRIu32 "-%u", (long)getpid(), session, ++seq);
  int mem_err = ENOENT, pids_err = ENOENT;

  if (h[V2].self[0]) {
    char d[PATH_MAX];
    if ((size_t)snprintf(d, sizeof d, "%s/%s", h[V2].self, name) < sizeof d && mkdir(d, 0755) == 0) {
      bounded_copy(cg->dir[V2], sizeof cg->dir[V2], d);
      if (memory && v2_controller(h[V2].self, "memory")) {
        char v[32];
        snprintf(v, sizeof v, "%" PRIu64, memory);
        mem_err = write_file(d, "memory.max", v);
        if (!mem_err && file_exists(d, "memory.swap.max")) mem_err = write_file(d, "memory.swap.max", "0");
        if (!mem_err) (void)write_file(d, "memory.oom.group", "1");
        cg->mem_v2 = !mem_err;
      }
      if (pids && v2_controller(h[V2].self, "pids")) {
        char v[32];
        snprintf(v, sizeof v, "%" PRIu64, pids);
        pids_err = write_file(d, "pids.max", v);
        cg->pids_v2 = !pids_err;
      }
    }
  }
  for (int i = MEM; i < NH; i++) {
    if (!h[i].self[0]) continue;
    /* Each hierarchy costs a mkdir and a migration per spawn: memory only
     * when limited (its peak is measured then). */
    if (i == MEM && (cg->mem_v2 || !memory)) continue;
    if (i == PIDS && (cg->pids_v2 || !pids)) continue;
    if ((i == FREEZER || i == CPUACCT) && cg->dir[V2][0]) continue; /* v2 kills and measures */
    char d[PATH_MAX];
    if ((size_t)snprintf(d, sizeof d, "%s/%s", h[i].self, name) >= sizeof d) continue;
    if (mkdir(d, 0755) < 0) {
      if (i == MEM) mem_err = errno;
      if (i == PIDS) pids_err = errno;
      continue;
    }
    bounded_copy(cg->dir[i], sizeof cg->dir[i], d);
    char v[32];
    if (i == MEM && memory) {
      snprintf(v, sizeof v, "%" PRIu64, memory);
      mem_err = write_file(d, "memory.limit_in_bytes", v);
      /* memory+swap too, where swap accounting is on: swap is no way out */
      if (!mem_err && file_exists(d, "memory.memsw.limit_in_bytes"))
        mem_err = write_file(d, "memory.memsw.limit_in_bytes", v);
    }
    if (i == PIDS) {
      snprintf(v, sizeof v, "%" PRIu64, pids);
      pids_err = write_file(d, "pids.max", v);
    }
  }
  bool mem_ok = cg->mem_v2 || (cg->dir[MEM][0] && memory && !mem_err);
  bool pids_ok = cg->pids_v2 || (cg->dir[PIDS][0] && !pids_err);
  if (pids && !pids_ok) {
    char where[2 * PATH_MAX + 96];
    snprintf(where, sizeof where, "no usable pids cgroup controller (v2 %s, v1 %s)",
             h[V2].self[0] ? h[V2].self : "not mounted",
             h[PIDS].self[0] ? h[PIDS].self : "not mounted");
    tether__cgroup_free(cg);
    return fail(f, pids_err == ENOENT ? 0 : pids_err, "limits.processes cannot be enforced", where);
  }
  for (int i = 0; i < NH; i++) {
    if (!cg->dir[i][0]) continue;
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/cgroup.procs", cg->dir[i]);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      tether__limits_plan_close(plan);
      tether__cgroup_free(cg);
      return fail(f, e, "limits: joining the session cgroup", p);
    }
    plan->join[plan->njoin++] = fd;
  }
  if (plan->njoin == 0) { /* nothing to join: no cgroup at all */
    free(cg);
    cg = NULL;
  }
  *memory_enforced = mem_ok;
  *out = cg;
  return 0;
}

uint32_t tether__cgroup_limit_hit(tether__cgroup *cg) {
  if (!cg) return TETHER_LIMIT_NONE;
  uint64_t n = 0;
  if (cg->mem_v2 ? read_value(cg->dir[V2], "memory.events", "oom_kill", &n)
                 : cg->dir[MEM][0] && read_value(cg->dir[MEM], "memory.oom_control", "oom_kill", &n))
    if (n) return TETHER_LIMIT_MEMORY;
  n = 0;
  if (cg->pids_v2 ? read_value(cg->dir[V2], "pids.events", "max", &n)
                  : cg->dir[PIDS][0] && read_value(cg->dir[PIDS], "pids.events", "max", &n))
    if (n) return TETHER_LIMIT_PROCESSES;
  return TETHER_LIMIT_NONE;
}

void tether__cgroup_usage(tether__cgroup *cg, uint64_t *peak, uint64_t *cpu_us) {
  *peak = *cpu_us = 0;
  if (!cg) return;
  if (cg->mem_v2 || (cg->dir[V2][0] && !cg->dir[MEM][0]))
    (void)read_value(cg->dir[V2], "memory.peak", NULL, peak);
  else if (cg->dir[MEM][0])
    (void)read_value(cg->dir[MEM], "memory.max_usage_in_bytes", NULL, peak);
  uint64_t ns = 0;
  if (cg->dir[V2][0])
    (void)read_value(cg->dir[V2], "cpu.stat", "usage_usec", cpu_us);
  else if (cg->dir[CPUACCT][0] && read_value(cg->dir[CPUACCT], "cpuacct.usage", NULL, &ns))
    *cpu_us = ns / 1000;
}

/* SIGKILL to every pid listed in dir/cgroup.procs; true if any was. */
static bool kill_listed(const char *dir) {
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/cgroup.procs", dir);
  FILE *f = fopen(p, "re");
  if (!f) return false;
  bool any = false;
  long pid;
  while (fscanf(f, "%ld", &pid) == 1)
    if (pid > 0) any |= kill((pid_t)pid, SIGKILL) == 0;
  fclose(f);
  return any;
}

static void pause_ms(long ms) {
  struct timespec ts = { 0, ms * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

void tether__cgroup_kill(tether__cgroup *cg) {
  if (!cg) return;
  if (cg->dir[V2][0] && write_file(cg->dir[V2], "cgroup.kill", "1") == 0) return;
  if (cg->dir[FREEZER][0] && write_file(cg->dir[FREEZER], "freezer.state", "FROZEN") == 0) {
    /* Frozen, nothing can fork between the listing and the kill. */
    char st[32] = "";
    for (int i = 0; i < 100; i++) {
      char p[PATH_MAX + 64];
      snprintf(p, sizeof p, "%s/freezer.state", cg->dir[FREEZER]);
      int fd = open(p, O_RDONLY | O_CLOEXEC);
      ssize_t n = fd >= 0 ? read(fd, st, sizeof st - 1) : -1;
      if (fd >= 0) close(fd);
      st[n > 0 ? n : 0] = '\0';
      if (!strncmp(st, "FROZEN", 6)) break;
      pause_ms(1);
    }
    (void)kill_listed(cg->dir[FREEZER]);
    (void)write_file(cg->dir[FREEZER], "freezer.state", "THAWED");
    return;
  }
  /* No way to stop forks: kill until the listing is empty. */
  for (int i = 1; i < NH; i++)
    if (cg->dir[i][0]) {
      for (int round = 0; round < 20 && kill_listed(cg->dir[i]); round++) {}
      return;
    }
}

void tether__cgroup_free(tether__cgroup *cg) {
  if (!cg) return;
  tether__cgroup_kill(cg);
  /* The killed processes leave the cgroup once they are dead (their
   * parent, or the PID namespace's init, reaps them): wait a little. */
  for (int i = 0; i < NH; i++) {
    if (!cg->dir[i][0]) continue;
    for (int tries = 0; rmdir(cg->dir[i]) < 0 && errno == EBUSY && tries < 200; tries++) {
      if (tries % 20 == 19) tether__cgroup_kill(cg);
      pause_ms(1);
    }
  }
  free(cg);
}
