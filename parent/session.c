/* Sessions: spawning, stdin (queued locally, sent against the runner's
 * credit), signals, status, and release. Everything here only queues, so
 * all of it is allowed inside callbacks. */
#include "parent_internal.h"
#include "sandbox/profile.h"

#include <stdlib.h>
#include <string.h>

static void spawn_defaults(tether_spawn_options *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->stdin_mode = TETHER_STDIN_MODE_PIPE;
  o->stdout_cap = TETHER_OUTPUT_UNCAPPED;
  o->stderr_cap = TETHER_OUTPUT_UNCAPPED;
}

void tether_spawn_options_init_sized(tether_spawn_options *o, size_t struct_size) {
  tether_spawn_options d;
  spawn_defaults(&d);
  tether__sized_init(o, struct_size, &d, sizeof d);
}

int tether__spawn_options_read(const tether_spawn_options *caller, tether_spawn_options *o) {
  spawn_defaults(o);
  return tether__sized_read(o, sizeof *o, caller, TETHER__SPAWN_OPTIONS_SIZE_0_2);
}

static int count_list(const char *const *v, size_t *n) {
  size_t i = 0;
  if (v)
    while (v[i]) i++;
  *n = i;
  return 0;
}

static uint32_t take_id(tether_parent *p) {
  for (;;) {
    uint32_t id = p->next_id;
    if (p->next_id == UINT32_MAX) {
      p->next_id = 1;
      p->ids_wrapped = 1;
    } else {
      p->next_id++;
    }
    if (id == 0 || tether__parent_find(p, id)) continue;
    if (!p->ids_wrapped && id > p->max_id) p->max_id = id;
    return id;
  }
}

static bool limits_any(const tether_resource_limits *l) {
  return l->memory_bytes || l->processes || l->cpu_ms || l->open_files || l->file_size_bytes;
}

static bool in_range(uint64_t v, uint64_t lo, uint64_t hi) { return v == 0 || (v >= lo && v <= hi); }

static bool limits_in_range(const tether_resource_limits *l) {
  return in_range(l->memory_bytes, TETHER_RLIMIT_MEMORY_MIN, TETHER_RLIMIT_MEMORY_MAX) &&
         in_range(l->processes, TETHER_RLIMIT_PROCESSES_MIN, TETHER_RLIMIT_PROCESSES_MAX) &&
         in_range(l->cpu_ms, TETHER_RLIMIT_CPU_MS_MIN, TETHER_RLIMIT_CPU_MS_MAX) &&
         in_range(l->open_files, TETHER_RLIMIT_OPEN_FILES_MIN, TETHER_RLIMIT_OPEN_FILES_MAX) &&
         in_range(l->file_size_bytes, TETHER_RLIMIT_FILE_SIZE_MIN, TETHER_RLIMIT_FILE_SIZE_MAX);
}

int tether__parent_spawn(tether_parent *p, const tether_spawn_options *o,
                         tether__capture *capture, tether_session **out) {
  tether_bytes *items = NULL, *prof_items = NULL;
  tether_msg_profile prof = { 0 };
  tether_bytes prof_cwd = { NULL, 0 };
  tether_session *s = NULL;
  size_t argc, envc;
  int rc;

  if (!p || !o || !out) return TETHER_EINVAL;
  *out = NULL;
  if (p->dead) return TETHER_ECLOSED;
  if (!o->argv || !o->argv[0]) return TETHER_EINVAL;
  if (o->stdin_mode != TETHER_STDIN_MODE_PIPE && o->stdin_mode != TETHER_STDIN_MODE_NULL)
    return TETHER_EINVAL;
  if (o->io_mode != TETHER_IO_MODE_PIPES && o->io_mode != TETHER_IO_MODE_PTY)
    return TETHER_EINVAL;
  if (o->io_mode == TETHER_IO_MODE_PTY &&
      (o->pty_rows > TETHER_PTY_DIM_MAX || o->pty_cols > TETHER_PTY_DIM_MAX))
    return TETHER_EINVAL;
  count_list(o->argv, &argc);
  count_list(o->env, &envc);
  if (argc > TETHER_ARGV_MAX_COUNT) return TETHER_ELIMIT_ARGV_COUNT;
  if (envc > TETHER_ENV_MAX_COUNT) return TETHER_ELIMIT_ENV_COUNT;
  if (o->cwd && strlen(o->cwd) > TETHER_PATH_MAX_BYTES) return TETHER_ELIMIT_PATH;
  if (p->active >= p->peer_max_sessions) return TETHER_ELIMIT_SESSIONS;
  bool limited = limits_any(&o->limits);
  if (limited) {
    if (!limits_in_range(&o->limits)) return TETHER_EINVAL;
    /* An older runner would ignore the field and run the command
     * unlimited: refuse here, before anything is sent. */
    if (p->version < TETHER_PROTOCOL_VERSION_LIMITS ||
        !(p->peer_caps & TETHER_CAP_BIT(TETHER_CAP_RESOURCE_LIMITS)))
      return TETHER_EUNSUPPORTED;
  }
  if (o->permission_profile) { /* checked here, resolved by the runner (sandbox/) */
    rc = tether__sandbox_encode(o->permission_profile, &prof, &prof_cwd, &prof_items, NULL, 0);
    if (rc < 0) return rc;
  }

  items = malloc((argc + envc + 1) * sizeof *items);
  s = calloc(1, sizeof *s);
  if (!items || !s) {
    rc = TETHER_ENOMEM;
    goto fail;
  }
  s->status.struct_size = sizeof s->status;
  for (size_t i = 0; i < argc; i++)
    items[i] = (tether_bytes){ (const uint8_t *)o->argv[i], strlen(o->argv[i]) };
  for (size_t i = 0; i < envc; i++)
    items[argc + i] = (tether_bytes){ (const uint8_t *)o->env[i], strlen(o->env[i]) };

  s->p = p;
  s->id = take_id(p);
  s->pty = o->io_mode == TETHER_IO_MODE_PTY;
  /* A pty session has one stream: merge_stderr and stderr_cap do not apply. */
  s->merge_stderr = !s->pty && o->merge_stderr != 0;
  s->stdin_null = o->stdin_mode == TETHER_STDIN_MODE_NULL;
  s->has_cap[0] = o->stdout_cap != TETHER_OUTPUT_UNCAPPED;
  s->cap[0] = o->stdout_cap;
  s->has_cap[1] = !s->pty && o->stderr_cap != TETHER_OUTPUT_UNCAPPED;
  s->cap[1] = s->has_cap[1] ? o->stderr_cap : 0;
  s->in_credit = p->flow ? p->window : UINT64_MAX;
  s->userdata = o->userdata;
  s->capture = capture;

  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = s->id;
  m.type = TETHER_MSG_SPAWN;
  tether_msg_spawn *sp = &m.u.spawn;
  sp->argv = (tether_bytes_list){ items, argc };
  sp->env = (tether_bytes_list){ items + argc, envc };
  sp->env_mode = o->clear_env ? TETHER_ENV_CLEAR : TETHER_ENV_OVERLAY;
  if (o->cwd) sp->cwd = (tether_bytes){ (const uint8_t *)o->cwd, strlen(o->cwd) };
  sp->io_mode = s->pty ? TETHER__IO_PTY : TETHER__IO_PIPES;
  if (s->pty) {
    sp->pty_rows = o->pty_rows;
    sp->pty_cols = o->pty_cols;
  }
  sp->stdin_mode = s->stdin_null ? TETHER__STDIN_NULL : TETHER__STDIN_PIPE;
  sp->merge_stderr = s->merge_stderr;
  sp->has_stdout_cap = s->has_cap[0];
  sp->stdout_cap = s->cap[0];
  sp->has_stderr_cap = s->has_cap[1];
  sp->stderr_cap = s->cap[1];
  sp->timeout_ms = o->timeout_ms;
  if (o->permission_profile) {
    sp->has_profile = true;
    sp->profile = prof;
    sp->profile_cwd = prof_cwd;
  }
  if (limited) {
    sp->has_limits = true;
    sp->limits.memory_bytes = o->limits.memory_bytes;
    sp->limits.processes = o->limits.processes;
    sp->limits.cpu_ms = o->limits.cpu_ms;
    sp->limits.open_files = o->limits.open_files;
    sp->limits.file_size_bytes = o->limits.file_size_bytes;
  }

  rc = tether__parent_table_add(p, s);
  if (rc < 0) goto fail;
  rc = tether__parent_send(p, &m, 1);
  if (rc < 0) {
    tether__parent_table_del(p, s);
    goto fail;
  }
  free(items);
  free(prof_items);
  s->next = p->head;
  if (p->head) p->head->prev = s;
  p->head = s;
  p->active++;
  *out = s;
  return 0;

fail:
  free(items);
  free(prof_items);
  free(s);
  return rc;
}

int tether_session_spawn(tether_parent *p, const tether_spawn_options *o,
                         tether_session **out) {
  tether_spawn_options so;
  if (out) *out = NULL;
  if (!o) return TETHER_EINVAL;
  int rc = tether__spawn_options_read(o, &so);
  if (rc < 0) return rc;
  return tether__parent_spawn(p, &so, NULL, out);
}

/* --------------------------------------------------------------- stdin */

static int session_usable(const tether_session *s) {
  if (!s || s->detached) return TETHER_EINVAL;
  if (s->p->dead) return TETHER_ECLOSED;
  if (s->state == TETHER__S_DONE) return TETHER_ESTATE;
  return 0;
}

int tether_session_write(tether_session *s, const void *data, size_t len) {
  int rc = session_usable(s);
  if (rc < 0) return rc;
  if (s->stdin_null || s->close_req) return TETHER_ESTATE;
  if (len == 0) return 0;
  if (!data) return TETHER_EINVAL;
  size_t queued = s->in_len - s->in_head;
  if (queued >= s->p->o.stdin_queue_max) return TETHER_EAGAIN;
  if (s->in_cap - s->in_len < len) {
    if (s->in_head > 0) {
      memmove(s->in, s->in + s->in_head, queued);
      s->in_len = queued;
      s->in_head = 0;
    }
    if (s->in_cap - s->in_len < len) {
      size_t ncap = s->in_cap ? s->in_cap : 4096;
      while (ncap - s->in_len < len) ncap *= 2;
      uint8_t *nb = realloc(s->in, ncap);
      if (!nb) return TETHER_ENOMEM;
      s->in = nb;
      s->in_cap = ncap;
    }
  }
  memcpy(s->in + s->in_len, data, len);
  s->in_len += len;
  tether__parent_pump_stdin(s->p);
  return 0;
}

size_t tether_session_stdin_queued(const tether_session *s) {
  return s ? s->in_len - s->in_head : 0;
}

int tether_session_close_stdin(tether_session *s) {
  int rc = session_usable(s);
  if (rc < 0) return rc;
  if (s->stdin_null) return TETHER_ESTATE;
  s->close_req = 1;
  tether__parent_pump_stdin(s->p);
  return 0;
}

/* One session's stdin: Stdin frames as credit and channel room allow, then
 * StdinClose once everything queued went out. Never blocks. */
static int pump_one(tether_parent *p, tether_session *s) {
  if (s->state == TETHER__S_DONE) return 0;
  size_t room = p->max_frame_out > TETHER__PARENT_FRAME_OVERHEAD
                    ? p->max_frame_out - TETHER__PARENT_FRAME_OVERHEAD
                    : 1;
  while (s->in_len > s->in_head) {
    if (s->in_credit == 0) return 0;
    if (tether_channel_pending(p->ch) >= TETHER__PARENT_STDIN_HIGH_WATER) return 0;
    size_t n = s->in_len - s->in_head;
    if (n > TETHER__PARENT_STDIN_CHUNK) n = TETHER__PARENT_STDIN_CHUNK;
    if (n > room) n = room;
    if ((uint64_t)n > s->in_credit) n = (size_t)s->in_credit;
    tether_msg m;
    memset(&m, 0, sizeof m);
    m.session = s->id;
    m.type = TETHER_MSG_STDIN;
    m.u.stdin_data.data = (tether_bytes){ s->in + s->in_head, n };
    m.u.stdin_data.offset = s->in_offset;
    int rc = tether__parent_send(p, &m, 0);
    if (rc == TETHER_EAGAIN) return 0;
    if (rc < 0) return rc;
    s->in_head += n;
    s->in_offset += n;
    if (s->in_credit != UINT64_MAX) s->in_credit -= n;
  }
  s->in_head = s->in_len = 0;
  if (s->close_req && !s->close_sent) {
    tether_msg m;
    memset(&m, 0, sizeof m);
    m.session = s->id;
    m.type = TETHER_MSG_STDIN_CLOSE;
    int rc = tether__parent_send(p, &m, 0);
    if (rc == TETHER_EAGAIN) return 0;
    if (rc < 0) return rc;
    s->close_sent = 1;
    free(s->in);
    s->in = NULL;
    s->in_cap = 0;
  }
  return 0;
}

int tether__parent_pump_stdin(tether_parent *p) {
  if (p->dead) return 0;
  for (tether_session *s = p->head; s; s = s->next) {
    if (s->in_len == s->in_head && !(s->close_req && !s->close_sent)) continue;
    int rc = pump_one(p, s);
    if (rc < 0) return rc;
  }
  return tether__parent_flush(p);
}

int tether__parent_grant(tether_parent *p, tether_session *s) {
  if (!p->flow || s->state == TETHER__S_DONE) {
    s->consumed[0] = s->consumed[1] = 0;
    return 0;
  }
  for (int i = 0; i < 2; i++) {
    uint64_t c = s->consumed[i];
    if (c == 0 || c < p->window / 4) continue;
    /* Held back: the runner runs out of credit and stops reading the child. */
    if (s->paused[i] && !s->detached) continue;
    tether_msg m;
    memset(&m, 0, sizeof m);
    m.session = s->id;
    m.type = TETHER_MSG_CREDIT;
    m.u.credit.stream = i ? TETHER_STREAM_STDERR
                          : s->pty ? TETHER_STREAM_PTY : TETHER_STREAM_STDOUT;
    m.u.credit.bytes = c;
    int rc = tether__parent_send(p, &m, 1);
    if (rc < 0) return rc;
    s->consumed[i] = 0;
  }
  return 0;
}

/* ------------------------------------------------------------- control */

static int send_control(tether_session *s, tether_msg *m) {
  int rc = session_usable(s);
  if (rc < 0) return rc;
  m->session = s->id;
  rc = tether__parent_send(s->p, m, 1);
  if (rc == 0) tether__parent_flush(s->p);
  return rc;
}

int tether_session_signal(tether_session *s, int sig, int group) {
  if (!tether__signal_portable(sig)) return TETHER_EINVAL;
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.type = TETHER_MSG_SIGNAL;
  m.u.signal.signal = (uint32_t)sig;
  m.u.signal.group = group != 0;
  return send_control(s, &m);
}

int tether_session_terminate(tether_session *s, uint32_t grace_ms) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.type = TETHER_MSG_TERMINATE;
  m.u.terminate.grace_ms = grace_ms;
  return send_control(s, &m);
}

int tether_session_status(tether_session *s) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.type = TETHER_MSG_STATUS_REQUEST;
  int rc = send_control(s, &m);
  if (rc == 0) s->status_pending++;
  return rc;
}

int tether_session_resize(tether_session *s, uint32_t rows, uint32_t cols) {
  if (rows == 0 || cols == 0 || rows > TETHER_PTY_DIM_MAX || cols > TETHER_PTY_DIM_MAX)
    return TETHER_EINVAL;
  int rc = session_usable(s);
  if (rc < 0) return rc;
  if (!s->pty) return TETHER_ESTATE;
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.type = TETHER_MSG_RESIZE;
  m.u.resize.rows = rows;
  m.u.resize.cols = cols;
  return send_control(s, &m);
}

/* ------------------------------------------------- output flow control */

/* The index of `stream` in the per-stream arrays, or -1 if the session has
 * no such output stream. */
static int output_index(const tether_session *s, int stream) {
  if (s->pty) return stream == TETHER_STREAM_PTY ? 0 : -1;
  if (stream == TETHER_STREAM_STDOUT) return 0;
  if (stream == TETHER_STREAM_STDERR && !s->merge_stderr) return 1;
  return -1;
}

int tether_session_pause_output(tether_session *s, int stream) {
  int rc = session_usable(s);
  if (rc < 0) return rc;
  int i = output_index(s, stream);
  if (i < 0) return TETHER_EINVAL;
  s->paused[i] = 1;
  return 0;
}

int tether_session_resume_output(tether_session *s, int stream) {
  int rc = session_usable(s);
  if (rc < 0) return rc;
  int i = output_index(s, stream);
  if (i < 0) return TETHER_EINVAL;
  if (!s->paused[i]) return 0;
  s->paused[i] = 0;
  rc = tether__parent_grant(s->p, s);
  if (rc == 0) tether__parent_flush(s->p);
  return rc;
}

/* ----------------------------------------------------------- accessors */

void *tether_session_userdata(const tether_session *s) { return s ? s->userdata : NULL; }
tether_parent *tether_session_parent(const tether_session *s) { return s ? s->p : NULL; }
uint32_t tether_session_id(const tether_session *s) { return s ? s->id : 0; }
int tether_session_done(const tether_session *s) {
  return s && s->state == TETHER__S_DONE;
}

void tether_session_free(tether_session *s) {
  if (!s || s->detached) return;
  tether_parent *p = s->p;
  s->detached = 1;
  s->capture = NULL;
  if (s->state != TETHER__S_DONE && !p->dead) {
    tether_msg m;
    memset(&m, 0, sizeof m);
    m.session = s->id;
    m.type = TETHER_MSG_TERMINATE;
    if (tether__parent_send(p, &m, 1) == 0) tether__parent_flush(p);
    /* The record stays until the runner's Exited (or SpawnFailed) for it,
     * so its frames are still checked and then dropped. */
    return;
  }
  if (!p->in_callback) tether__parent_session_release(p, s);
  /* Inside a callback the dispatcher releases it once callbacks return. */
}
