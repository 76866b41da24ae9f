/* Permission profiles: checking and resolution (see profile.h). */
#include "sandbox/profile.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tether/error.h"
#include "transport/compat.h"
#include "tether/parent.h"
#include "transport/escape.h"

/* ------------------------------------------------------------- helpers */

TETHER__PRINTF(3, 4)
static int why_fmt(char *why, size_t len, const char *fmt, ...) {
  if (why && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
  }
  return 0;
}

TETHER__PRINTF(4, 5)
static int refuse(tether__sandbox_failure *f, uint32_t error, int os_error, const char *fmt, ...) {
  f->error = error;
  f->os_error = os_error;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  va_end(ap);
  return -1;
}

static uint32_t spawn_error_of(int e) {
  switch (e) {
  case ENOENT: return TETHER_SPAWN_ERR_NOT_FOUND;
  case ENOTDIR: return TETHER_SPAWN_ERR_NOT_A_DIRECTORY;
  case EACCES:
  case EPERM: return TETHER_SPAWN_ERR_PERMISSION_DENIED;
  case ENOMEM: return TETHER_SPAWN_ERR_NO_RESOURCES;
  default: return TETHER_SPAWN_ERR_OTHER;
  }
}

static bool is_abs(tether_bytes b) { return b.len > 0 && b.data[0] == '/'; }

/* `inner` is `outer` or below it (both absolute and normalised). */
static bool inside(const char *inner, const char *outer) {
  size_t n = strlen(outer);
  if (n == 1 && outer[0] == '/') return true;
  return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

/* NUL-terminated `base` + "/" + b (or b alone when base is NULL). */
static char *join(const char *base, tether_bytes b) {
  size_t bl = base ? strlen(base) : 0;
  char *s = malloc(bl + 1 + b.len + 1);
  if (!s) return NULL;
  size_t o = 0;
  if (base) {
    memcpy(s, base, bl);
    o = bl;
    if (o == 0 || s[o - 1] != '/') s[o++] = '/';
  }
  if (b.len) memcpy(s + o, b.data, b.len);
  s[o + b.len] = '\0';
  return s;
}

static int push(char ***v, size_t *n, char *s) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*v)[i], s) == 0) { /* duplicates collapse */
      free(s);
      return 0;
    }
  char **nv = realloc(*v, (*n + 1) * sizeof *nv);
  if (!nv) {
    free(s);
    return -1;
  }
  nv[(*n)++] = s;
  *v = nv;
  return 0;
}

const char *tether__sandbox_fs_name(uint32_t fs) {
  switch (fs) {
  case 0: return "unrestricted";
  case TETHER_FS_READ_ONLY: return "read-only";
  case TETHER_FS_WORKSPACE_WRITE: return "workspace-write";
  case TETHER_FS_FULL_ACCESS: return "full-access";
  default: return "unknown";
  }
}

/* --------------------------------------------------------------- check */

bool tether__sandbox_requested(const tether_msg_profile *p) {
  return p->filesystem != 0 || p->network != 0 || p->writable_roots.count != 0 ||
         p->read_only_subpaths.count != 0;
}

static int check_list(tether_bytes_list l, const char *name, char *why, size_t len) {
  if (l.count > TETHER_PROFILE_MAX_PATHS) {
    why_fmt(why, len, "permission_profile.%s has %zu entries; the limit is %u", name, l.count,
            TETHER_PROFILE_MAX_PATHS);
    return TETHER_ELIMIT_ROOTS;
  }
  for (size_t i = 0; i < l.count; i++)
    if (l.items[i].len > TETHER_PATH_MAX_BYTES) {
      why_fmt(why, len, "permission_profile.%s[%zu] is %zu bytes; the limit is %u", name, i,
              l.items[i].len, TETHER_PATH_MAX_BYTES);
      return TETHER_ELIMIT_PATH;
    }
  return 0;
}

static int check_path(tether_bytes b, const char *name, size_t i, char *why, size_t len) {
  if (b.len == 0) {
    why_fmt(why, len, "permission_profile.%s[%zu] is empty", name, i);
    return TETHER_EINVAL;
  }
  if (memchr(b.data, '\0', b.len)) {
    why_fmt(why, len, "permission_profile.%s[%zu] contains a NUL byte", name, i);
    return TETHER_EINVAL;
  }
  return 0;
}

int tether__sandbox_check(const tether_msg_profile *p, tether_bytes cwd, char *why,
                          size_t len) {
  int rc;
  if (why && len) why[0] = '\0';
  if ((rc = check_list(p->writable_roots, "writable_roots", why, len)) < 0) return rc;
  if ((rc = check_list(p->read_only_subpaths, "read_only_subpaths", why, len)) < 0) return rc;
  if (cwd.len > TETHER_PATH_MAX_BYTES) {
    why_fmt(why, len, "permission_profile_cwd is %zu bytes; the limit is %u", cwd.len,
            TETHER_PATH_MAX_BYTES);
    return TETHER_ELIMIT_PATH;
  }
  if (p->filesystem > TETHER_FS_FULL_ACCESS) {
    why_fmt(why, len, "unknown filesystem mode %u (a newer protocol version?)", p->filesystem);
    return TETHER_EUNSUPPORTED;
  }
  if (p->network > TETHER_NET_DENIED) {
    why_fmt(why, len, "unknown network mode %u (a newer protocol version?)", p->network);
    return TETHER_EUNSUPPORTED;
  }
  if (cwd.len && memchr(cwd.data, '\0', cwd.len)) {
    why_fmt(why, len, "permission_profile_cwd contains a NUL byte");
    return TETHER_EINVAL;
  }
  if (cwd.len && !is_abs(cwd)) {
    char e[128];
    tether__escape(e, sizeof e, (const char *)cwd.data, cwd.len, 0);
    why_fmt(why, len, "permission_profile_cwd \"%s\" is not absolute", e);
    return TETHER_EINVAL;
  }
  bool paths = p->writable_roots.count || p->read_only_subpaths.count;
  if (paths && p->filesystem != TETHER_FS_WORKSPACE_WRITE) {
    why_fmt(why, len, "writable_roots and read_only_subpaths need filesystem mode "
                      "workspace-write, not %s", tether__sandbox_fs_name(p->filesystem));
    return TETHER_EINVAL;
  }
  for (size_t i = 0; i < p->writable_roots.count; i++) {
    tether_bytes b = p->writable_roots.items[i];
    if ((rc = check_path(b, "writable_roots", i, why, len)) < 0) return rc;
    if (!is_abs(b) && cwd.len == 0) {
      char e[128];
      tether__escape(e, sizeof e, (const char *)b.data, b.len, 0);
      why_fmt(why, len, "writable root \"%s\" is relative but permission_profile_cwd is empty",
              e);
      return TETHER_EINVAL;
    }
  }
  for (size_t i = 0; i < p->read_only_subpaths.count; i++)
    if ((rc = check_path(p->read_only_subpaths.items[i], "read_only_subpaths", i, why, len)) < 0)
      return rc;
  return 0;
}


/* realpath of `path` into *out; errno on failure. */
static int real(const char *path, char **out) {
#ifdef _WIN32
  /* No realpath: the absolute path of something that exists (Windows
   * runners enforce no profile, sandbox/enforce_none.c). */
  struct stat st;
  if (stat(path, &st) < 0) return errno ? errno : ENOENT;
  char *r = _fullpath(NULL, path, 0);
#else
  char *r = realpath(path, NULL);
#endif
  if (!r) return errno ? errno : ENOENT;
  *out = r;
  return 0;
}

/* `path` itself is a symbolic link. */
static bool is_symlink(const char *path) {
#ifdef _WIN32
  (void)path;
  return false;
#else
  struct stat st;
  return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
#endif
}

#ifdef _WIN32
#define READ_CLOEXEC "r"
#else
#define READ_CLOEXEC "re"
#endif

static int resolve_dir(const char *what, const char *given, size_t given_len,
                       const char *joined, char **out, tether__sandbox_failure *f) {
  char eg[200], ej[200];
  tether__escape(eg, sizeof eg, given, given_len, 0);
  tether__escape(ej, sizeof ej, joined, strlen(joined), 0);
  bool same = strcmp(eg, ej) == 0;
  int e = real(joined, out);
  if (e)
    return refuse(f, spawn_error_of(e), e, "%s \"%s\"%s%s%s: %s", what, eg,
                  same ? "" : " (", same ? "" : ej, same ? "" : ")", strerror(e));
  struct stat st;
  if (stat(*out, &st) < 0 || !S_ISDIR(st.st_mode)) {
    free(*out);
    *out = NULL;
    return refuse(f, TETHER_SPAWN_ERR_NOT_A_DIRECTORY, ENOTDIR, "%s \"%s\" is not a directory",
                  what, eg);
  }
  return 0;
}

static int oom(tether__sandbox_failure *f) {
  return refuse(f, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM, "resolving the permission profile: %s",
                strerror(ENOMEM));
}

/* ------------------------------------------------------------- resolve */

/* Writable in the profile: inside a root or the temp dir. */
static bool writable(const tether__sandbox_resolved *r, const char *path) {
  for (size_t k = 0; k < r->nroots; k++)
    if (inside(path, r->roots[k])) return true;
  return r->tmpdir && inside(path, r->tmpdir);
}

/* A `.git` file ("gitdir: PATH", as `git worktree` and submodules write
 * it): the directory it points to, resolved against the file's directory,
 * into *out (NULL if the file says nothing of the kind). errno on failure. */
static int gitdir_of(const char *file, char **out) {
  *out = NULL;
  FILE *fp = fopen(file, READ_CLOEXEC);
  if (!fp) return errno;
  char line[PATH_MAX + 16];
  bool got = fgets(line, sizeof line, fp) != NULL;
  fclose(fp);
  if (!got || strncmp(line, "gitdir:", 7) != 0) return 0;
  char *v = line + 7;
  while (*v == ' ' || *v == '\t') v++;
  v[strcspn(v, "\r\n")] = '\0';
  if (!*v) return 0;
  char *joined;
  if (v[0] == '/') {
    joined = strdup(v);
  } else {
    const char *slash = strrchr(file, '/');
    size_t dl = slash ? (size_t)(slash - file) : 0;
    joined = malloc(dl + 1 + strlen(v) + 1);
    if (joined) sprintf(joined, "%.*s/%s", (int)dl, file, v);
  }
  if (!joined) return ENOMEM;
  int e = real(joined, out);
  free(joined);
  return e == ENOENT || e == ENOTDIR ? 0 : e; /* a dangling pointer: nothing to protect */
}

/* Protects the read-only subpath `given` (as written under its root) that
 * resolved to `r` (taken over): `r` itself if it is writable in the
 * profile; if `given` is a symlink, the link too (it could be swapped for a
 * fake repository); if `r` is a gitdir pointer file, the directory it names
 * as well. */
static int protect(tether__sandbox_resolved *out, const char *given, char *r,
                   tether__sandbox_failure *f) {
  struct stat st;
  if (is_symlink(given)) { /* `given` is absolute: its directory, made symlink-free */
    const char *slash = strrchr(given, '/');
    size_t dl = (size_t)(slash - given);
    char *dir = malloc(dl + 2), *rd = NULL;
    if (!dir) goto nomem;
    memcpy(dir, given, dl ? dl : 1);
    dir[dl ? dl : 1] = '\0';
    int e = real(dir, &rd);
    free(dir);
    if (!e) {
      char *lp = malloc(strlen(rd) + strlen(slash) + 1);
      if (!lp) {
        free(rd);
        goto nomem;
      }
      sprintf(lp, "%s%s", strcmp(rd, "/") ? rd : "", slash);
      free(rd);
      if (!writable(out, lp)) free(lp);
      else if (push(&out->ro_links, &out->nro_links, lp) < 0) goto nomem;
    }
  }
  if (stat(r, &st) == 0 && S_ISREG(st.st_mode)) {
    char *gd = NULL;
    int e = gitdir_of(r, &gd);
    if (e == ENOMEM) goto nomem;
    if (e) {
      char er[200];
      tether__escape(er, sizeof er, r, strlen(r), 0);
      free(r);
      return refuse(f, spawn_error_of(e), e, "read-only subpath \"%s\": reading it: %s", er,
                    strerror(e));
    }
    if (gd && !writable(out, gd)) free(gd); /* already read-only */
    else if (gd && push(&out->ro, &out->nro, gd) < 0) goto nomem;
  }
  if (!writable(out, r)) { /* a symlink out of the roots: already read-only */
    free(r);
    return 0;
  }
  if (push(&out->ro, &out->nro, r) < 0) return oom(f);
  return 0;
nomem:
  free(r);
  return oom(f);
}

int tether__sandbox_resolve(const tether_msg_profile *p, tether_bytes cwd_b, const char *tmpdir,
                            tether__sandbox_resolved *out, tether__sandbox_failure *f) {
  memset(out, 0, sizeof *out);
  memset(f, 0, sizeof *f);
  out->filesystem = p->filesystem;
  out->network = p->network;
  if (p->filesystem != TETHER_FS_WORKSPACE_WRITE) return 0;

  /* The profile cwd: resolved only when a relative root needs it (a remote
   * parent's cwd need not exist here if every root is absolute). */
  char *cwd = NULL;
  for (size_t i = 0; i < p->writable_roots.count && !cwd; i++) {
    if (is_abs(p->writable_roots.items[i])) continue;
    char *c = join(NULL, cwd_b);
    if (!c) return oom(f);
    int rc = resolve_dir("permission_profile_cwd", c, strlen(c), c, &cwd, f);
    free(c);
    if (rc < 0) return -1;
  }
  for (size_t i = 0; i < p->writable_roots.count; i++) {
    tether_bytes b = p->writable_roots.items[i];
    char *joined = join(is_abs(b) ? NULL : cwd, b), *r = NULL;
    if (!joined) {
      free(cwd);
      return oom(f);
    }
    int rc = resolve_dir("writable root", (const char *)b.data, b.len, joined, &r, f);
    free(joined);
    if (rc < 0 || push(&out->roots, &out->nroots, r) < 0) {
      free(cwd);
      return rc < 0 ? -1 : oom(f);
    }
  }
  free(cwd);

  /* The temp dir first: a read-only subpath (a .git) may resolve into it. */
  if (tmpdir && tmpdir[0] == '/') {
    char *r = NULL;
    struct stat st;
    if (real(tmpdir, &r) == 0) {
      if (stat(r, &st) == 0 && S_ISDIR(st.st_mode)) out->tmpdir = r;
      else free(r);
    }
  }

  for (size_t i = 0; i < p->read_only_subpaths.count; i++) {
    tether_bytes b = p->read_only_subpaths.items[i];
    char eg[200];
    tether__escape(eg, sizeof eg, (const char *)b.data, b.len, 0);
    if (is_abs(b)) {
      char *joined = join(NULL, b), *r = NULL;
      if (!joined) return oom(f);
      int e = real(joined, &r);
      if (e) {
        free(joined);
        return refuse(f, spawn_error_of(e), e, "read-only subpath \"%s\": %s", eg, strerror(e));
      }
      if (!writable(out, r)) {
        free(joined);
        free(r);
        return refuse(f, TETHER_SPAWN_ERR_INVALID, 0,
                      "read-only subpath \"%s\" is not inside any writable root", eg);
      }
      int rc = protect(out, joined, r, f);
      free(joined);
      if (rc < 0) return -1;
      continue;
    }
    for (size_t k = 0; k < out->nroots; k++) {
      char *joined = join(out->roots[k], b), *r = NULL;
      if (!joined) return oom(f);
      int e = real(joined, &r);
      if (e == ENOENT || e == ENOTDIR) { /* nothing here to protect */
        free(joined);
        continue;
      }
      if (e) {
        free(joined);
        char er[200];
        tether__escape(er, sizeof er, out->roots[k], strlen(out->roots[k]), 0);
        return refuse(f, spawn_error_of(e), e, "read-only subpath \"%s\" under \"%s\": %s", eg,
                      er, strerror(e));
      }
      int rc = protect(out, joined, r, f);
      free(joined);
      if (rc < 0) return -1;
    }
  }
  return 0;
}

void tether__sandbox_resolved_free(tether__sandbox_resolved *r) {
  for (size_t i = 0; i < r->nroots; i++) free(r->roots[i]);
  free(r->roots);
  for (size_t i = 0; i < r->nro; i++) free(r->ro[i]);
  free(r->ro);
  for (size_t i = 0; i < r->nro_links; i++) free(r->ro_links[i]);
  free(r->ro_links);
  free(r->tmpdir);
  memset(r, 0, sizeof *r);
}

static void add(char *buf, size_t len, size_t *o, const char *s) {
  size_t n = strlen(s);
  if (*o + 1 >= len) return;
  if (n > len - 1 - *o) n = len - 1 - *o;
  memcpy(buf + *o, s, n);
  *o += n;
  buf[*o] = '\0';
}

static void add_path(char *buf, size_t len, size_t *o, const char *p) {
  char e[300];
  tether__escape(e, sizeof e, p, strlen(p), 0);
  add(buf, len, o, e);
}

void tether__sandbox_describe(const tether__sandbox_resolved *r, char *buf, size_t len) {
  size_t o = 0;
  if (!len) return;
  buf[0] = '\0';
  add(buf, len, &o, tether__sandbox_fs_name(r->filesystem));
  add(buf, len, &o, r->network == TETHER_NET_DENIED ? ", network denied" : ", network allowed");
  if (r->filesystem != TETHER_FS_WORKSPACE_WRITE) return;
  add(buf, len, &o, "; writable:");
  for (size_t i = 0; i < r->nroots; i++) {
    add(buf, len, &o, i ? ", " : " ");
    add_path(buf, len, &o, r->roots[i]);
  }
  if (r->tmpdir) {
    add(buf, len, &o, r->nroots ? ", " : " ");
    add_path(buf, len, &o, r->tmpdir);
    add(buf, len, &o, " (temp dir)");
  }
  if (!r->nroots && !r->tmpdir) add(buf, len, &o, " (none)");
  add(buf, len, &o, "; read-only:");
  for (size_t i = 0; i < r->nro; i++) {
    add(buf, len, &o, i ? ", " : " ");
    add_path(buf, len, &o, r->ro[i]);
  }
  if (!r->nro) add(buf, len, &o, " (none)");
}

/* -------------------------------------------------------------- parent */

static size_t count(const char *const *v) {
  size_t n = 0;
  if (v)
    while (v[n]) n++;
  return n;
}

int tether__sandbox_encode(const struct tether_permission_profile *in, tether_msg_profile *out,
                           tether_bytes *cwd, tether_bytes **items, char *why, size_t why_len) {
  memset(out, 0, sizeof *out);
  *cwd = (tether_bytes){ NULL, 0 };
  *items = NULL;
  size_t nr = count(in->writable_roots), ns = count(in->read_only_subpaths);
  if (nr > TETHER_PROFILE_MAX_PATHS || ns > TETHER_PROFILE_MAX_PATHS) {
    why_fmt(why, why_len, "more than %u profile paths", TETHER_PROFILE_MAX_PATHS);
    return TETHER_ELIMIT_ROOTS;
  }
  if (in->filesystem < 0 || in->network < 0) {
    why_fmt(why, why_len, "negative profile mode");
    return TETHER_EINVAL;
  }
  if (nr + ns) {
    *items = malloc((nr + ns) * sizeof **items);
    if (!*items) return TETHER_ENOMEM;
  }
  for (size_t i = 0; i < nr; i++)
    (*items)[i] = (tether_bytes){ (const uint8_t *)in->writable_roots[i],
                                  strlen(in->writable_roots[i]) };
  for (size_t i = 0; i < ns; i++)
    (*items)[nr + i] = (tether_bytes){ (const uint8_t *)in->read_only_subpaths[i],
                                       strlen(in->read_only_subpaths[i]) };
  out->filesystem = (uint32_t)in->filesystem;
  out->network = (uint32_t)in->network;
  out->writable_roots = (tether_bytes_list){ nr ? *items : NULL, nr };
  out->read_only_subpaths = (tether_bytes_list){ ns ? *items + nr : NULL, ns };
  if (in->cwd) *cwd = (tether_bytes){ (const uint8_t *)in->cwd, strlen(in->cwd) };
  int rc = tether__sandbox_check(out, *cwd, why, why_len);
  if (rc == TETHER_EUNSUPPORTED) rc = TETHER_EINVAL; /* a caller's typo, not a newer peer */
  if (rc < 0) {
    free(*items);
    *items = NULL;
  }
  return rc;
}

/* ------------------------------------------------------------- the CLI */

void tether__sandbox_free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

int tether__sandbox_parse_spec(const char *spec, int *filesystem, char ***roots) {
  *roots = NULL;
  if (!strcmp(spec, "read-only")) {
    *filesystem = TETHER_FS_READ_ONLY;
    return 0;
  }
  if (!strcmp(spec, "full-access")) {
    *filesystem = TETHER_FS_FULL_ACCESS;
    return 0;
  }
  static const char ww[] = "workspace-write";
  size_t wl = sizeof ww - 1;
  if (strncmp(spec, ww, wl) != 0 || (spec[wl] != '\0' && spec[wl] != ':')) return TETHER_EINVAL;
  *filesystem = TETHER_FS_WORKSPACE_WRITE;
  const char *list = spec[wl] == ':' ? spec + wl + 1 : ".";
  size_t n = 1;
  for (const char *c = list; *c; c++) n += *c == ',';
  char **v = calloc(n + 1, sizeof *v);
  if (!v) return TETHER_ENOMEM;
  size_t i = 0;
  for (const char *s = list;; i++) {
    const char *e = strchr(s, ',');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l == 0) {
      tether__sandbox_free_strv(v);
      return TETHER_EINVAL;
    }
    v[i] = malloc(l + 1);
    if (!v[i]) {
      tether__sandbox_free_strv(v);
      return TETHER_ENOMEM;
    }
    memcpy(v[i], s, l);
    v[i][l] = '\0';
    if (!e) break;
    s = e + 1;
  }
  *roots = v;
  return 0;
}
