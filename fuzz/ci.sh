#!/bin/sh
# fuzz/ci.sh [SECONDS] — the CI fuzz step.
#
# Builds every harness with clang + libFuzzer + ASan/UBSan (-DTETHER_FUZZ=ON)
# in a temporary directory, then runs each one for SECONDS (default 30, or
# $FUZZ_SECONDS) on a copy of its seed corpus plus fuzz/regressions/<name>/,
# with the dictionary. Nothing in the source tree is written.
#
# Fails (exit 1) if any harness crashes, breaks an invariant, leaks, times
# out (-timeout=10 per input) or exceeds -rss_limit_mb=2048; the failing
# input and the log are kept and their paths printed. Prints, per harness,
# executions, exec/s and coverage (libFuzzer's cov: and ft:).
#
# Environment: CC (default clang), FUZZ_SECONDS, FUZZ_WORK (a directory to
# use instead of a fresh temporary one; kept afterwards).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-${FUZZ_SECONDS:-30}}
keep=${FUZZ_WORK:+1}
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/tether-fuzz-ci.XXXXXX")}
mkdir -p "$work"
build=$work/build
gen=
command -v ninja >/dev/null 2>&1 && gen="-G Ninja"

echo "fuzz/ci.sh: building in $build"
# shellcheck disable=SC2086
CC=${CC:-clang} cmake -S "$src" -B "$build" $gen -DTETHER_FUZZ=ON -DTETHER_BUILD_TESTS=OFF -DTETHER_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
fuzzers=$(cat "$build/fuzz/fuzzers.txt")
# shellcheck disable=SC2086
cmake --build "$build" --target $fuzzers >"$work/build.log" 2>&1 ||
  { tail -50 "$work/build.log"; exit 1; }

dict=
[ -f "$src/fuzz/tether.dict" ] && dict="-dict=$src/fuzz/tether.dict"
failed=0
summary=
for h in $fuzzers; do
  corpus=$work/corpus/$h
  mkdir -p "$corpus" "$work/artifacts"
  [ -d "$src/fuzz/corpus/$h" ] && cp -R "$src/fuzz/corpus/$h/." "$corpus/"
  regress=
  [ -d "$src/fuzz/regressions/$h" ] && regress=$src/fuzz/regressions/$h
  log=$work/$h.log
  echo "fuzz/ci.sh: $h for ${secs}s"
  set +e
  # shellcheck disable=SC2086
  "$build/bin/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 $dict -artifact_prefix="$work/artifacts/$h-" \
    "$corpus" $regress >"$log" 2>&1
  rc=$?
  set -e
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
  cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    failed=1
    line=$(printf '%-20s FAILED (exit %s)' "$h" "$rc")
    echo "---- $h failed; log: $log"
    grep -E 'ERROR|invariant|runtime error|SUMMARY|Test unit written' "$log" | head -20 || true
  else
    line=$(printf '%-20s ok  %10s execs %8s exec/s  cov %5s  ft %6s' "$h" \
      "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}")
  fi
  summary="$summary$line
"
done

echo
echo "fuzz/ci.sh summary (${secs}s each):"
printf '%s' "$summary"
if [ "$failed" -ne 0 ]; then
  echo "fuzz/ci.sh: FAILED; logs and inputs kept in $work (artifacts/)."
  echo "Replay: $build/bin/<harness> <artifact>; keep it in fuzz/regressions/<harness>/."
  exit 1
fi
if [ -z "$keep" ]; then rm -rf "$work"; fi
exit 0
