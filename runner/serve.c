/* Serving one connection: the platform-neutral entry points around the
 * platform's event loop (tether__runner_serve in loop_posix.c/loop_win.c).
 * Kept apart from runner.c, whose protocol logic the fuzzer drives with a
 * fake platform and no loop. */
#include <stdio.h>
#include <stdlib.h>

#include "runner_internal.h"
#include "transport/sized.h"

/* Writes `msg` to the caller's error_buf, if its options have one within
 * their struct_size. */
static void put_why(const tether_runner_options *o, const char *msg) {
  tether_runner_options opt = { 0 };
  if (!o || tether__sized_read(&opt, sizeof opt, o, sizeof opt.struct_size) == TETHER_EINVAL)
    return;
  if (opt.error_buf && opt.error_buf_len) snprintf(opt.error_buf, opt.error_buf_len, "%s", msg);
}

int tether__runner_serve_transport(const tether_runner_options *o, tether_transport *t) {
  tether__runner *r = malloc(sizeof *r);
  if (!r) {
    tether_transport_free(t);
    put_why(o, "out of memory");
    return TETHER_ENOMEM;
  }
  int rc = tether__runner_init(r, o, t); /* owns t from here */
  if (rc == 0) {
    rc = tether__runner_serve(r); /* the platform's loop */
    tether__runner_free(r);
  }
  put_why(o, rc == 0 ? "" : r->why);
  free(r);
  return rc;
}

/* On Windows the descriptors are C runtime descriptors (_open_osfhandle,
 * _fileno): tether_transport_fd_new (transport_fd_win.c) takes their
 * handles over as a handle-pair transport and closes the descriptors. */
int tether_runner_serve_fds(const tether_runner_options *o, int read_fd, int write_fd) {
  tether_transport *t = NULL;
  int rc = tether_transport_fd_new(read_fd, write_fd, &t); /* closes them on failure */
  if (rc < 0) {
    char why[128];
    snprintf(why, sizeof why, "bad descriptors: %s", tether_strerror(rc));
    put_why(o, why);
    return rc;
  }
  return tether__runner_serve_transport(o, t);
}
