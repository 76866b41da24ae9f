/* A runner built by test_install.sh against an installed libtether_runner
 * (shared or static, through CMake or pkg-config): serves the connection
 * inherited as descriptor 3, as `tether-runner --fd 3` does, so
 * TETHER_RUNNER=<this program> examples/capture runs both libraries from
 * the install. Its arguments are ignored. */
#include <stdio.h>

#include <tether/runner.h>
#include <tether/version.h>

int main(void) {
  tether_runner_options o;
  char why[256] = "";
  tether_runner_options_init(&o);
  o.name = "install-runner";
  o.error_buf = why;
  o.error_buf_len = sizeof why;
  if (tether_version() != TETHER_VERSION_NUM) {
    fprintf(stderr, "install-runner: built with %s, runs with %s\n", TETHER_VERSION_STRING,
            tether_version_string());
    return 3;
  }
  int rc = tether_runner_serve_fds(&o, 3, 3);
  if (rc != 0) {
    fprintf(stderr, "install-runner: %s: %s\n", tether_strerror(rc), why);
    return 1;
  }
  return 0;
}
