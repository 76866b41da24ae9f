#!/usr/bin/env bash
# Runs the parent + runner mixed workload (test_faults --helper
# valgrind_workload, see tests/test_faults.c) under valgrind memcheck and
# fails on any memory error or any definite/indirect leak, in the parent
# process or in any tether-runner it starts.
#
#   tests/valgrind.sh [BUILD_DIR]     default: build-valgrind
#
# BUILD_DIR must be a non-sanitized tree (valgrind and ASan do not mix); if
# it does not exist it is configured as Debug. The commands the runner
# starts (sh, cat, head, sleep: /bin/*, /usr/bin/*) are not traced, so only
# tether's own binaries are checked. Every valgrind log is kept in
# BUILD_DIR/valgrind/ (one per process: vg.PID.log).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}

command -v valgrind >/dev/null || { echo "valgrind: not installed (Debian: valgrind; .ci/deps installs it)" >&2; exit 1; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTETHER_SANITIZE=OFF
fi
if grep -q '^TETHER_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "valgrind: $build is a sanitized tree; use a build without -DTETHER_SANITIZE=ON" >&2
  exit 1
fi
cmake --build "$build" -j2 --target test_faults tether-runner

logs="$build/valgrind"
rm -rf "$logs"
mkdir -p "$logs"
set +e
valgrind --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
  --trace-children=yes --trace-children-skip='/bin/*,/usr/bin/*' \
  --track-fds=no --num-callers=30 --suppressions=tests/valgrind.supp \
  --log-file="$logs/vg.%p.log" \
  "$build/bin/test_faults" --helper valgrind_workload
rc=$?
set -e

bad=0
runners=0
skipped=0
for f in "$logs"/vg.*.log; do
  cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$f" | head -1 || true)
  summary=$(grep -h 'ERROR SUMMARY' "$f" | tail -1 | sed 's/^==[0-9]*== //' || true)
  if [ -z "$summary" ]; then
    # A process that was killed (the workload SIGKILLs one runner on
    # purpose) or that exec'd a skipped program has no summary.
    # (a runner's children between fork and exec log nothing else)
    skipped=$((skipped + 1))
    continue
  fi
  case "$cmd" in *tether-runner*) runners=$((runners + 1)) ;; esac
  echo "valgrind: $cmd: $summary"
  case "$summary" in
    "ERROR SUMMARY: 0 errors"*) ;;
    *) bad=1; echo "---- $f"; cat "$f" ;;
  esac
  if grep -q 'definitely lost: [1-9]\|indirectly lost: [1-9]' "$f"; then
    bad=1
    echo "---- leaks in $f"
    grep -A3 'LEAK SUMMARY' "$f"
  fi
done
if [ "$runners" -lt 1 ]; then
  echo "valgrind: no tether-runner process was traced" >&2
  bad=1
fi
if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
  echo "valgrind: FAILED (workload exit $rc; logs in $logs)" >&2
  exit 1
fi
echo "valgrind: $skipped process(es) without a summary (exec'd an untraced /bin or /usr/bin program, or killed on purpose)"
echo "valgrind: 0 errors, 0 definite/indirect leaks in the parent and $runners checked tether-runner process(es) (runners and their forks)"
