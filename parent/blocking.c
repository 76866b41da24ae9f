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

int tether_session_wait(tether_session *s, int timeout_ms, tether_exit_status *st) {
  if (!s || s->detached) return TETHER_EINVAL;
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
  if (st) *st = s->status;
  return s->result;
}

/* ------------------------------------------------------------- capture */

void tether_capture_result_free(tether_capture_result *r) {
  if (!r) return;
  free(r->stdout_data);
  free(r->stderr_data);
  free((char *)r->failure.message);
  memset(r, 0, sizeof *r);
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

int tether_capture(tether_parent *p, const char *const *argv,
                   const tether_spawn_options *o, tether_capture_result *result) {
  tether_spawn_options so;
  tether__capture c;
  tether_session *s = NULL;
  int rc;

  if (!result) return TETHER_EINVAL;
  memset(result, 0, sizeof *result);
  if (!p || !argv) return TETHER_EINVAL;
  if (p->in_callback) return TETHER_EINCALLBACK;
  if (o) so = *o;
  else tether_spawn_options_init(&so);
  so.argv = argv;
  so.userdata = NULL;
  /* The runner drops what is past the cap, so memory stays bounded. */
  if (so.stdout_cap == TETHER_CAP_NONE) so.stdout_cap = TETHER_CAPTURE_MAX_DEFAULT;
  if (so.stderr_cap == TETHER_CAP_NONE) so.stderr_cap = TETHER_CAPTURE_MAX_DEFAULT;
  if (so.stdout_cap > SIZE_MAX - 1 || so.stderr_cap > SIZE_MAX - 1) return TETHER_EINVAL;

  memset(&c, 0, sizeof c);
  c.max[0] = (size_t)so.stdout_cap;
  c.max[1] = (size_t)so.stderr_cap;
  rc = tether__parent_spawn(p, &so, &c, &s);
  if (rc < 0) return rc;
  if (so.stdin_mode == TETHER_STDIN_MODE_PIPE) tether_session_close_stdin(s);
  rc = tether_session_wait(s, -1, &result->status);
  s->capture = NULL;
  tether_session_free(s);

  result->stdout_data = take_buffer(&c, 0, &result->stdout_len);
  result->stderr_data = take_buffer(&c, 1, &result->stderr_len);
  result->stdout_truncated = c.truncated[0] || result->status.stdout_dropped > 0;
  result->stderr_truncated = c.truncated[1] || result->status.stderr_dropped > 0;
  if (rc == TETHER_ESPAWN) {
    result->failure = c.failure;
    result->failure.message = c.failure_msg;
  } else {
    free(c.failure_msg);
  }
  free(c.buf[0]);
  free(c.buf[1]);
  if (rc == 0 && (!result->stdout_data || !result->stderr_data)) {
    tether_capture_result_free(result);
    return TETHER_ENOMEM;
  }
  return rc;
}
