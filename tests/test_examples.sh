#!/bin/sh
# Runs the examples (examples/*.c) against a tether-runner and checks what
# they print and how they exit.
#   test_examples.sh RUNNER EXAMPLE...   (EXAMPLE: path of poll, capture, libuv, glib)
# test_install.sh sources it (TETHER_TEST_EXAMPLES_LIB=1) for check_example.
set -u

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect FILE PATTERN WHAT: grep -E PATTERN must match a line of FILE.
expect() {
  grep -Eq -- "$2" "$1" || fail "$3: no line matching '$2'"
}

# check_example PATH: runs the example PATH (by its base name) and checks it.
check_example() {
  bin=$1
  out=$(mktemp) || exit 1
  case $(basename "$bin") in
  poll)
    "$bin" >"$out" 2>&1; rc=$?
    cat "$out"
    [ $rc -eq 0 ] || fail "poll exited $rc"
    expect "$out" '^connected to tether-runner ' poll
    for i in 1 2 3; do expect "$out" "^\[count\] out $i\$" poll; done
    expect "$out" '^\[count\] exited with status 0$' poll
    expect "$out" '^\[second\] .* (bin|etc|usr)( ->.*)?$' "poll (ls -l /)"
    expect "$out" '^\[second\] exited with status 0$' poll
    # Lines of the two sessions arrive interleaved, in each one's order.
    [ "$(grep -E '^\[count\] out ' "$out" | tr -d '\n')" = \
      "[count] out 1[count] out 2[count] out 3" ] || fail "poll: count order"
    # The optional program replaces ls; stderr gets its own prefix.
    "$bin" sh -c 'echo one; echo two >&2; exit 3' >"$out" 2>&1; rc=$?
    cat "$out"
    [ $rc -eq 1 ] || fail "poll with a failing program exited $rc, not 1"
    expect "$out" '^\[second\] one$' "poll PROGRAM"
    expect "$out" '^\[second:err\] two$' "poll PROGRAM stderr"
    expect "$out" '^\[second\] exited with status 3$' "poll PROGRAM"
    ;;
  capture)
    "$bin" -- sh -c 'echo hi; exit 4' >"$out" 2>&1; rc=$?
    cat "$out"
    [ $rc -eq 4 ] || fail "capture exited $rc, not 4"
    expect "$out" '^hi$' capture
    expect "$out" '^stdout: 3 bytes$' capture
    expect "$out" '^stderr: 0 bytes$' capture
    expect "$out" '^status: exited with code 4$' capture
    "$bin" --quiet --stdout-cap 10 -- sh -c 'head -c 1000 /dev/zero; echo e >&2' \
      >"$out" 2>&1; rc=$?
    cat "$out"
    [ $rc -eq 0 ] || fail "capture --stdout-cap exited $rc"
    expect "$out" '^stdout: 10 bytes, truncated \(990 bytes dropped\)$' "capture cap"
    expect "$out" '^stderr: 2 bytes$' "capture cap"
    "$bin" --quiet -- sh -c 'kill -TERM $$' >"$out" 2>&1; rc=$?
    cat "$out"
    [ $rc -eq 143 ] || fail "capture of a killed command exited $rc, not 143"
    expect "$out" '^status: killed by signal 15' "capture signal"
    "$bin" -- /nonexistent/program >"$out" 2>&1; rc=$?
    cat "$out"
    [ $rc -eq 127 ] || fail "capture of a missing program exited $rc, not 127"
    expect "$out" 'could not start' "capture missing program"
    ;;
  libuv | glib) # the same program in two event loops
    name=$(basename "$bin")
    "$bin" 0.5 >"$out" 2>&1; rc=$?
    cat "$out"
    [ $rc -eq 0 ] || fail "$name exited $rc"
    for i in 1 2 3; do expect "$out" "^\[count\] out $i\$" "$name"; done
    expect "$out" '^\[count\] exited with status 0$' "$name"
    expect "$out" '^\[long\] waiting$' "$name"
    expect "$out" '^\[long\] terminating after 500 ms$' "$name"
    expect "$out" '^\[long\] killed by signal 15 \(TERM\)$' "$name"
    "$bin" nonsense >"$out" 2>&1; rc=$?
    [ $rc -eq 2 ] || fail "$name with a bad argument exited $rc, not 2"
    expect "$out" "^usage: $name " "$name usage"
    ;;
  *)
    fail "unknown example $bin"
    ;;
  esac
  rm -f "$out"
}

# Run (not sourced): check the examples given.
if [ "${TETHER_TEST_EXAMPLES_LIB:-}" != 1 ]; then
  [ $# -ge 2 ] || { echo "usage: $0 RUNNER EXAMPLE..." >&2; exit 2; }
  TETHER_RUNNER=$1
  export TETHER_RUNNER
  shift
  for bin in "$@"; do
    echo "== $(basename "$bin")"
    check_example "$bin"
  done
  if [ $fails -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
  fi
  echo "all examples behaved"
fi
