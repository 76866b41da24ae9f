/* Internal: the tether-runner command-line options every platform shares
 * (main_posix.c and main_win.c add their own channel options). */
#ifndef TETHER_RUNNER_CLI_H
#define TETHER_RUNNER_CLI_H

#include "tether/runner.h"

/* Applies option `a` (with `v`, the next argument or NULL) to `o`. Returns
 * 2 if it took `v`, 1 if it is a flag without a value, 0 if `a` is not one
 * of these options, -1 if its value is bad (then *bad is a message naming
 * the option). */
int tether__runner_cli_option(tether_runner_options *o, const char *a, const char *v,
                              const char **bad);

/* Rules between options, checked once all are parsed: NULL or a message. */
const char *tether__runner_cli_check(const tether_runner_options *o);

#endif
