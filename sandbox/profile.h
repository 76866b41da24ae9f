/* Permission profiles: checking and resolution, in one place for the
 * runner and the parent (docs/SANDBOX.md has the semantics).
 *
 *   tether__sandbox_check     syntax only (no filesystem access): what the
 *                             parent library refuses before sending a
 *                             Spawn and the runner refuses on receipt.
 *   tether__sandbox_resolve   the runner's view: relative writable roots
 *                             joined to permission_profile_cwd (NEVER the
 *                             command's cwd, which this API does not even
 *                             take), every path made absolute, normalised
 *                             and symlink-free with realpath(3), read-only
 *                             subpaths applied under each root, the temp
 *                             dir added explicitly.
 *   tether__sandbox_encode    tether_permission_profile (public, parent.h)
 *                             -> tether_msg_profile for the codec.
 *   tether__sandbox_parse_spec  tether-run's --sandbox argument.
 *
 * Nothing here enforces anything; sandbox.h does. Not installed. */
#ifndef TETHER_SANDBOX_PROFILE_H
#define TETHER_SANDBOX_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/msg.h"

struct tether_permission_profile; /* tether/parent.h */

/* Why a profile was refused: the SpawnFailed{PERMISSIONS} the runner sends
 * (error = TETHER_SPAWN_ERR_*, os_error = errno or 0) and a message that
 * names the offending path or the missing feature (printable ASCII). */
typedef struct tether__sandbox_failure {
  uint32_t error;
  int os_error;
  char message[512];
} tether__sandbox_failure;

/* A profile after resolution. Every path is absolute, normalised and
 * symlink-free; the strings are malloc'd and owned by the struct. */
typedef struct tether__sandbox_resolved {
  uint32_t filesystem;  /* 0 (no restriction), TETHER_FS_READ_ONLY, _WORKSPACE_WRITE, _FULL_ACCESS */
  uint32_t network;     /* 0 (no restriction), TETHER_NET_ALLOWED, _DENIED */
  char **roots;         /* WORKSPACE_WRITE: the profile's writable roots, deduplicated */
  size_t nroots;
  char *tmpdir;         /* WORKSPACE_WRITE: the temp dir added as a root; NULL if none */
  char **ro;            /* read-only subpaths, each inside one of `roots` or the temp dir */
  size_t nro;
  char **ro_links;      /* protected symlinks (a `.git` -> elsewhere): the links themselves */
  size_t nro_links;
  bool tty;             /* a pty session: the terminal devices are granted */
} tether__sandbox_resolved;

/* True if the profile asks for anything at all (a mode, a path). A present
 * profile with every field at its default is treated as absent. */
bool tether__sandbox_requested(const tether_msg_profile *p);

/* Syntax: list counts and lengths (TETHER_ELIMIT_ROOTS, TETHER_ELIMIT_PATH),
 * known modes (TETHER_EUNSUPPORTED for a value this build does not know),
 * then TETHER_EINVAL for: an empty path or one with a NUL byte, paths with
 * a mode other than WORKSPACE_WRITE, a relative permission_profile_cwd, a
 * relative writable root without a permission_profile_cwd. 0 if fine; `why`
 * (may be NULL) names the field. */
int tether__sandbox_check(const tether_msg_profile *p, tether_bytes profile_cwd, char *why,
                          size_t why_len);

/* Resolves a profile that passed tether__sandbox_check. `tmpdir` is the
 * runner's temp dir ($TMPDIR, else "/tmp"; NULL: none), added as a writable
 * root to WORKSPACE_WRITE profiles only; if it does not resolve to a
 * directory it is left out (never replaced by another). Refusals (-1, `f`
 * filled): a writable root or permission_profile_cwd that does not exist
 * (NOT_FOUND), is not a directory (NOT_A_DIRECTORY) or cannot be looked up
 * (PERMISSION_DENIED, OTHER); an absolute read-only subpath that does not
 * exist or lies outside every writable root (NOT_FOUND / INVALID). A
 * relative read-only subpath is tried under every writable root; where it
 * does not exist, or resolves (through a symlink) outside every root, it is
 * skipped (nothing writable to protect). 0 on success; free with
 * tether__sandbox_resolved_free either way. */
int tether__sandbox_resolve(const tether_msg_profile *p, tether_bytes profile_cwd,
                            const char *tmpdir, tether__sandbox_resolved *out,
                            tether__sandbox_failure *f);
void tether__sandbox_resolved_free(tether__sandbox_resolved *r);

/* One line for logs: "workspace-write, network denied; writable: /a, /b,
 * /tmp (temp dir); read-only: /a/.git". Truncated to fit. */
void tether__sandbox_describe(const tether__sandbox_resolved *r, char *buf, size_t len);

/* "read-only", "workspace-write", "full-access", "unrestricted", or
 * "unknown". */
const char *tether__sandbox_fs_name(uint32_t filesystem);

/* The parent's public profile as a message: *items (malloc'd, free it;
 * NULL if no paths) holds the path views *out points into; *cwd views
 * in->cwd. Then tether__sandbox_check. Returns 0, TETHER_ENOMEM or the
 * check's code. */
int tether__sandbox_encode(const struct tether_permission_profile *in, tether_msg_profile *out,
                           tether_bytes *cwd, tether_bytes **items, char *why, size_t why_len);

/* tether-run's `--sandbox SPEC`: "read-only", "workspace-write" (roots:
 * "."), "workspace-write:ROOT[,ROOT...]", "full-access". Sets *filesystem
 * and *roots (malloc'd NULL-terminated array of malloc'd strings; NULL for
 * modes without roots; free with tether__sandbox_free_strv). TETHER_EINVAL
 * for anything else (an empty ROOT included), TETHER_ENOMEM. */
int tether__sandbox_parse_spec(const char *spec, int *filesystem, char ***roots);
void tether__sandbox_free_strv(char **v);

#endif
