/* The blocking layer: wait + process loops, and the one-shot capture. */
#include "parent_internal.h"

#include <stdlib.h>
#include <string.h>

static int64_t deadline_of(int timeout_ms) {
  return timeout_ms < 0 ? -1 : tether__parent_now_ms() + timeout_ms;
}

static int left_of(int64_t deadline) {
  if (deadline < 0) return -1;
  int64_t left = deadline - tether__parent_now_ms();
  if (left <= 0) return 0;
  return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

int tether_parent_run(tether_parent *p, int timeout_ms) {
  if (!p) return TETHER_EINVAL;
  if (p->in_callback) return TETHER_EINCALLBACK;
  if (p->dead) return TETHER_ECLOSED;
  uint64_t start = p->events;
  int64_t deadline = deadline_of(timeout_ms);
  for (;;) {
    int rc = tether__parent_dispatch(p);
    if (p->events != start) return 0;
    if (rc < 0) return rc;
    int left = left_of(deadline);
    if (left == 0) return TETHER_ETIMEDOUT;
    rc = tether__parent_wait(p, left);
    if (rc < 0 && rc != TETHER_ETIMEDOUT) return rc;
  }
}

int tether_session_wait_sized(tether_session *s, int timeout_ms, tether_exit_status *st,
                              size_t struct_size) {
  if (!s || s->detached) return TETHER_EINVAL;
  if (st && struct_size < TETHER__EXIT_STATUS_SIZE_0_2) return TETHER_EINVAL;
  tether_parent *p = s->p;
  if (p->in_callback) return TETHER_EINCALLBACK;
  int64_t deadline = deadline_of(timeout_ms);
  while (s->state != TETHER__S_DONE) {
    tether__parent_dispatch(p);
    if (s->state == TETHER__S_DONE) break;
    int left = left_of(deadline);
    if (left == 0) return TETHER_ETIMEDOUT;
    int rc = tether__parent_wait(p, left);
    if (rc < 0 && rc != TETHER_ETIMEDOUT) return rc;
  }
  if (st)
    tether__sized_write(st, struct_size, &s->status, sizeof s->status,
                        TETHER__EXIT_STATUS_SIZE_0_2);
  return s->result;
}

/* ------------------------------------------------------------- capture */

void tether_capture_result_free(tether_capture_result *r) {
  if (!r) return;
  free(r->stdout_data);
  free(r->stderr_data);
  free((char *)r->failure.message);
  /* Only the caller's bytes: its layout may be older (or newer) than ours. */
  size_t n = r->struct_size;
  if (n < TETHER__CAPTURE_RESULT_SIZE_0_2) n = TETHER__CAPTURE_RESULT_SIZE_0_2;
  memset(r, 0, n);
}

static char *take_buffer(tether__capture *c, int i, size_t *len) {
  char *b = (char *)c->buf[i];
  if (!b) {
    b = malloc(1);
    if (!b) return NULL;
  }
  b[c->len[i]] = '\0'; /* buffers always keep one spare byte */
  *len = c->len[i];
  c->buf[i] = NULL;
  return b;
}

/* Writes the library's result to the caller's `struct_size` bytes; the
 * caller's `status` (the last member) may be shorter or longer than ours. */
static void put_result(tether_capture_result *out, size_t struct_size,
                       tether_capture_result *r) {
  size_t room = struct_size - offsetof(tether_capture_result, status);
  if (room < sizeof r->status) r->status.struct_size = room;
  tether__sized_write(out, struct_size, r, sizeof *r, TETHER__CAPTURE_RESULT_SIZE_0_2);
}

int tether_capture_sized(tether_parent *p, const char *const *argv,
                         const tether_spawn_options *o, tether_capture_result *out,
                         size_t struct_size) {
  tether_capture_result r;
  tether_spawn_options so;
  tether__capture c;
  tether_session *s = NULL;
  int rc;

  if (!out || struct_size < TETHER__CAPTURE_RESULT_SIZE_0_2) return TETHER_EINVAL;
  memset(&r, 0, sizeof r);
  r.status.struct_size = sizeof r.status;
  put_result(out, struct_size, &r);
  if (!p || !argv) return TETHER_EINVAL;
  if (p->in_callback) return TETHER_EINCALLBACK;
  if (o) {
    rc = tether__spawn_options_read(o, &so);
    if (rc < 0) return rc;
  } else {
    tether_spawn_options_init(&so);
  }
  so.argv = argv;
  so.userdata = NULL;
  /* The runner drops what is past the cap, so memory stays bounded. */
  if (so.stdout_cap == TETHER_OUTPUT_UNCAPPED) so.stdout_cap = TETHER_CAPTURE_MAX_DEFAULT;
  if (so.stderr_cap == TETHER_OUTPUT_UNCAPPED) so.stderr_cap = TETHER_CAPTURE_MAX_DEFAULT;
  if (so.stdout_cap > SIZE_MAX - 1 || so.stderr_cap > SIZE_MAX - 1) return TETHER_EINVAL;

  memset(&c, 0, sizeof c);
  c.max[0] = (size_t)so.stdout_cap;
  c.max[1] = (size_t)so.stderr_cap;
  rc = tether__parent_spawn(p, &so, &c, &s);
  if (rc < 0) return rc;
  if (so.stdin_mode == TETHER_STDIN_MODE_PIPE) tether_session_close_stdin(s);
  rc = tether_session_wait(s, -1, &r.status);
  s->capture = NULL;
  tether_session_free(s);

  r.stdout_data = take_buffer(&c, 0, &r.stdout_len);
  r.stderr_data = take_buffer(&c, 1, &r.stderr_len);
  r.stdout_truncated = c.truncated[0] || r.status.stdout_dropped > 0;
  r.stderr_truncated = c.truncated[1] || r.status.stderr_dropped > 0;
  if (rc == TETHER_ESPAWN) {
    r.failure = c.failure;
    r.failure.message = c.failure_msg;
  } else {
    free(c.failure_msg);
  }
  free(c.buf[0]);
  free(c.buf[1]);
  if (rc == 0 && (!r.stdout_data || !r.stderr_data)) {
    r.struct_size = sizeof r;
    tether_capture_result_free(&r);
    r.status.struct_size = sizeof r.status;
    rc = TETHER_ENOMEM;
  }
  put_result(out, struct_size, &r);
  return rc;
}
