/* The named-pipe server: a private, unguessable, locally reachable pipe.
 *
 * - The name carries 128 random bits from the system RNG, so nobody can
 *   connect to a pipe they were not told about, and nobody can take the
 *   name first: FILE_FLAG_FIRST_PIPE_INSTANCE makes creating it fail if it
 *   already exists (a squatter), instead of silently joining its instances.
 * - Its DACL (protected, no inherited entries) allows only the current user,
 *   plus optionally one more SID (a sandbox account) that may read and
 *   write but not create instances of its own.
 * - PIPE_REJECT_REMOTE_CLIENTS: SMB clients never reach it.
 * - accept can insist on the client's process id (the runner the caller
 *   just started), so a different local process of the same user that
 *   learned the name is turned away. */
#include "transport_win.h"

#include <bcrypt.h>
#include <sddl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_wait.h"

#define MAX_BUFFER_SIZE (16u << 20)

struct tether_npipe_server {
  wchar_t wname[TETHER__NPIPE_NAME_MAX + 1];
  char name[TETHER__NPIPE_NAME_MAX * 3 + 1]; /* UTF-8 */
  unsigned max_instances;
  DWORD buffer_size;

  SECURITY_DESCRIPTOR sd;
  SECURITY_ATTRIBUTES sa;
  PACL acl;
  void *user;  /* TOKEN_USER of the current process (holds the SID) */
  PSID extra;  /* LocalAlloc'd by ConvertStringSidToSidA, or NULL */

  HANDLE pipe;    /* the listening instance, or NULL */
  OVERLAPPED ov;  /* ov.hEvent (manual reset) is the server's handle */
  int pending;    /* ConnectNamedPipe in flight */
  int connected;  /* a client is connected to `pipe`, not yet accepted */

  char msg[192];
};

#if defined(__MINGW_PRINTF_FORMAT)
__attribute__((format(__MINGW_PRINTF_FORMAT, 3, 4)))
#elif defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int set_msg(tether_npipe_server *s, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  return code;
}

void tether_npipe_options_init(tether_npipe_options *o) {
  o->name = NULL;
  o->extra_sid = NULL;
  o->max_instances = 1;
  o->buffer_size = TETHER__WIN_CHUNK;
}

/* \\.\pipe\tether-<pid>-<32 hex digits>. No fallback to a weaker source:
 * a guessable name would defeat the point. */
static int random_name(tether_npipe_server *s) {
  unsigned char r[16];
  if (BCryptGenRandom(NULL, r, sizeof r, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
    return set_msg(s, TETHER_EOS, "the system random number generator failed");
  char hex[sizeof r * 2 + 1];
  for (size_t i = 0; i < sizeof r; i++) {
    hex[2 * i] = "0123456789abcdef"[r[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[r[i] & 15];
  }
  hex[sizeof hex - 1] = '\0';
  snprintf(s->name, sizeof s->name, "\\\\.\\pipe\\tether-%lu-%s",
           (unsigned long)GetCurrentProcessId(), hex);
  return 0;
}

/* Owner and DACL: the current user gets everything, the extra SID read
 * and write without FILE_CREATE_PIPE_INSTANCE (the same bit as
 * FILE_APPEND_DATA, hence masked out of FILE_GENERIC_WRITE). */
static int build_security(tether_npipe_server *s, const char *extra_sid) {
  HANDLE tok = NULL;
  DWORD len = 0;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
    return set_msg(s, TETHER_EOS, "OpenProcessToken failed (error %lu)", GetLastError());
  GetTokenInformation(tok, TokenUser, NULL, 0, &len);
  s->user = len ? malloc(len) : NULL;
  if (!s->user || !GetTokenInformation(tok, TokenUser, s->user, len, &len)) {
    CloseHandle(tok);
    return set_msg(s, s->user ? TETHER_EOS : TETHER_ENOMEM, "cannot read the current user's SID");
  }
  CloseHandle(tok);
  PSID user = ((TOKEN_USER *)s->user)->User.Sid;
  if (extra_sid && !ConvertStringSidToSidA(extra_sid, &s->extra)) {
    s->extra = NULL;
    return set_msg(s, TETHER_EINVAL, "\"%s\" is not a valid SID string", extra_sid);
  }
  DWORD acl_len = sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) + GetLengthSid(user);
  if (s->extra) acl_len += sizeof(ACCESS_ALLOWED_ACE) + GetLengthSid(s->extra);
  s->acl = malloc(acl_len);
  if (!s->acl) return TETHER_ENOMEM;
  if (!InitializeAcl(s->acl, acl_len, ACL_REVISION) ||
      !AddAccessAllowedAce(s->acl, ACL_REVISION, FILE_ALL_ACCESS, user) ||
      (s->extra &&
       !AddAccessAllowedAce(s->acl, ACL_REVISION,
                            (FILE_GENERIC_READ | FILE_GENERIC_WRITE) & ~FILE_CREATE_PIPE_INSTANCE,
                            s->extra)) ||
      !InitializeSecurityDescriptor(&s->sd, SECURITY_DESCRIPTOR_REVISION) ||
      !SetSecurityDescriptorOwner(&s->sd, user, FALSE) ||
      !SetSecurityDescriptorDacl(&s->sd, TRUE, s->acl, FALSE) ||
      !SetSecurityDescriptorControl(&s->sd, SE_DACL_PROTECTED, SE_DACL_PROTECTED))
    return set_msg(s, TETHER_EOS, "cannot build the pipe's security descriptor (error %lu)",
                   GetLastError());
  s->sa.nLength = sizeof s->sa;
  s->sa.lpSecurityDescriptor = &s->sd;
  s->sa.bInheritHandle = FALSE;
  return 0;
}

static int create_instance(tether_npipe_server *s, int first) {
  DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                    (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
  DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
  HANDLE h = CreateNamedPipeW(s->wname, open_mode, pipe_mode, s->max_instances,
                              s->buffer_size, s->buffer_size, 0, &s->sa);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD e = GetLastError();
    if (first && (e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY))
      return set_msg(s, TETHER_EADDRINUSE, "pipe %s already exists", s->name);
    if (e == ERROR_PIPE_BUSY)
      return set_msg(s, TETHER_ESTATE, "all %u instances of pipe %s are connected",
                     s->max_instances, s->name);
    if (e == ERROR_INVALID_NAME || e == ERROR_BAD_PATHNAME)
      return set_msg(s, TETHER_EADDRESS, "invalid pipe name %s", s->name);
    return set_msg(s, tether__win_error(e), "CreateNamedPipe(%s) failed (error %lu)", s->name,
                   e);
  }
  s->pipe = h;
  return 0;
}

/* Makes sure an instance exists and a ConnectNamedPipe is in flight (or
 * already done). */
static int listen_next(tether_npipe_server *s) {
  if (s->pending || s->connected) return 0;
  if (!s->pipe) {
    int rc = create_instance(s, 0);
    if (rc < 0) return rc;
  }
  ResetEvent(s->ov.hEvent);
  if (!ConnectNamedPipe(s->pipe, &s->ov)) {
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) {
      s->pending = 1;
      return 0;
    }
    if (e == ERROR_NO_DATA) {
      /* A client came and went before we listened: drop it, listen anew. */
      DisconnectNamedPipe(s->pipe);
      return listen_next(s);
    }
    if (e != ERROR_PIPE_CONNECTED)
      return set_msg(s, tether__win_error(e), "ConnectNamedPipe failed (error %lu)", e);
  }
  s->connected = 1; /* a client was already there */
  SetEvent(s->ov.hEvent);
  return 0;
}

int tether_npipe_server_new(const tether_npipe_options *o, tether_npipe_server **out) {
  tether_npipe_options defaults;
  *out = NULL;
  if (!o) {
    tether_npipe_options_init(&defaults);
    o = &defaults;
  }
  if (o->max_instances < 1 || o->max_instances > PIPE_UNLIMITED_INSTANCES ||
      o->buffer_size > MAX_BUFFER_SIZE)
    return TETHER_EINVAL;
  tether_npipe_server *s = calloc(1, sizeof *s);
  if (!s) return TETHER_ENOMEM;
  s->max_instances = o->max_instances;
  s->buffer_size = o->buffer_size;
  int rc = 0;
  if (o->name) {
    if (strlen(o->name) >= sizeof s->name) rc = TETHER_EADDRESS;
    else memcpy(s->name, o->name, strlen(o->name) + 1);
  } else {
    rc = random_name(s);
  }
  if (rc == 0) rc = tether__npipe_wide_name(s->name, s->wname);
  if (rc == 0) rc = build_security(s, o->extra_sid);
  if (rc == 0) {
    s->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!s->ov.hEvent) rc = TETHER_EOS;
  }
  if (rc == 0) rc = create_instance(s, 1);
  if (rc == 0) rc = listen_next(s);
  if (rc < 0) {
    tether_npipe_server_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

const char *tether_npipe_server_name(const tether_npipe_server *s) { return s->name; }

tether_os_handle tether_npipe_server_handle(tether_npipe_server *s) { return s->ov.hEvent; }

const char *tether_npipe_server_error(const tether_npipe_server *s) { return s->msg; }

/* Drops the listening instance after a failure, so the next accept starts
 * from a fresh one. */
static void drop_instance(tether_npipe_server *s) {
  if (s->pipe) CloseHandle(s->pipe);
  s->pipe = NULL;
  s->pending = s->connected = 0;
}

int tether_npipe_server_accept(tether_npipe_server *s, int timeout_ms,
                               unsigned long expected_pid, tether_transport **out) {
  *out = NULL;
  s->msg[0] = '\0';
  int64_t deadline = tether__deadline(timeout_ms);
  while (!s->connected) {
    int rc = listen_next(s);
    if (rc < 0) return rc;
    if (s->connected) break;
    int left = tether__remaining_ms(deadline);
    DWORD w = WaitForSingleObject(s->ov.hEvent, left < 0 ? INFINITE : (DWORD)left);
    if (w == WAIT_TIMEOUT) return TETHER_ETIMEDOUT; /* still listening */
    if (w != WAIT_OBJECT_0) return set_msg(s, TETHER_EIO, "waiting for a client failed");
    DWORD n;
    if (GetOverlappedResult(s->pipe, &s->ov, &n, FALSE)) {
      s->pending = 0;
      s->connected = 1;
      break;
    }
    DWORD e = GetLastError();
    if (e == ERROR_IO_INCOMPLETE) continue;
    s->pending = 0;
    /* Overlapped I/O ends when the thread that issued it exits: listen
     * again from this thread (a client that came meanwhile is found). */
    if (e == ERROR_OPERATION_ABORTED) continue;
    if (e == ERROR_NO_DATA || e == ERROR_BROKEN_PIPE) { /* the client left already */
      DisconnectNamedPipe(s->pipe);
      continue;
    }
    drop_instance(s);
    return set_msg(s, tether__win_error(e), "ConnectNamedPipe failed (error %lu)", e);
  }

  ULONG pid = 0;
  if (!GetNamedPipeClientProcessId(s->pipe, &pid)) pid = 0;
  if (expected_pid != 0 && pid != expected_pid) {
    /* Disconnecting discards the instance's data; the rejected client
     * reads end of stream, and the instance listens again next time. */
    DisconnectNamedPipe(s->pipe);
    s->connected = 0;
    if (listen_next(s) < 0) drop_instance(s); /* the next accept retries */
    if (pid == 0)
      return set_msg(s, TETHER_EPROTOCOL,
                     "the system did not report the client's process id; expected %lu, "
                     "client rejected",
                     expected_pid);
    return set_msg(s, TETHER_EPROTOCOL,
                   "client process id %lu is not the expected %lu; client rejected",
                   (unsigned long)pid, expected_pid);
  }
  HANDLE h = s->pipe;
  s->pipe = NULL;
  s->connected = 0;
  int rc = tether__npipe_wrap(h, out);
  if (rc < 0) return set_msg(s, rc, "cannot set up the connection");
  /* Listen again at once if another instance is allowed, so the server's
   * handle keeps meaning "a client is waiting"; if not, the next accept
   * tries again and says why. */
  if (listen_next(s) < 0) {
    drop_instance(s);
    s->msg[0] = '\0';
  }
  return 0;
}

void tether_npipe_server_free(tether_npipe_server *s) {
  if (!s) return;
  if (s->pipe) {
    if (s->pending) {
      DWORD n;
      CancelIoEx(s->pipe, &s->ov);
      GetOverlappedResult(s->pipe, &s->ov, &n, TRUE);
    }
    CloseHandle(s->pipe);
  }
  if (s->ov.hEvent) CloseHandle(s->ov.hEvent);
  if (s->extra) LocalFree(s->extra);
  free(s->acl);
  free(s->user);
  free(s);
}
