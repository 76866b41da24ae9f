#!/bin/sh
# fuzz/run.sh [--cpu] HOURS [HARNESS...] — long local fuzzing.
#
# Builds the libFuzzer harnesses (clang, -DTETHER_FUZZ=ON) under $FUZZ_HOME
# (default ~/.cache/tether-fuzz) and runs the named harnesses (default: all)
# side by side for HOURS (fractions allowed: 0.5), each in libFuzzer's fork
# mode with $FUZZ_JOBS jobs (default: cores / harnesses, at least 1). Fork
# mode goes on after a crash, so one bug does not end the night.
#
# --cpu makes HOURS a CPU-time budget per harness instead of wall time: each
# harness runs as one niced libFuzzer process (no fork mode: a crash ends
# that harness and is reported) and is stopped with SIGINT once it has used
# HOURS of CPU, however busy the machine is. Every harness's result (CPU
# seconds, executions, exec/s, coverage, crashes) is appended to
# $FUZZ_HOME/ledger.tsv, the record a "1 CPU-hour per harness" claim cites.
#
# The corpus grows in $FUZZ_HOME/corpus/<harness>/, outside the repository,
# and is reused by the next run; each run first adds fuzz/corpus/<harness>/
# and fuzz/regressions/<harness>/ to it. Every crash, leak, timeout or OOM
# input is copied to fuzz/regressions/<harness>/ with a note <file>.txt (date,
# commit, the harness's report from a replay). Minimize it, check it, and
# commit it with the fix; the note says how.
#
# To fold new coverage back into the committed seeds (small files only):
#   $FUZZ_HOME/build/bin/<h> -merge=1 fuzz/corpus/<h> $FUZZ_HOME/corpus/<h>
set -eu

cpu=0
[ "${1:-}" = --cpu ] && { cpu=1; shift; }
[ $# -ge 1 ] || { echo "usage: $0 [--cpu] HOURS [HARNESS...]" >&2; exit 2; }
hours=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
home=${FUZZ_HOME:-$HOME/.cache/tether-fuzz}
build=$home/build
mkdir -p "$home"
gen=
command -v ninja >/dev/null 2>&1 && gen="-G Ninja"

# shellcheck disable=SC2086
CC=${CC:-clang} cmake -S "$src" -B "$build" $gen -DTETHER_FUZZ=ON -DTETHER_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$home/configure.log" 2>&1 ||
  { cat "$home/configure.log"; exit 1; }
all=$(cat "$build/fuzz/fuzzers.txt")
fuzzers=${*:-$all}
# shellcheck disable=SC2086
cmake --build "$build" --target $fuzzers >"$home/build.log" 2>&1 ||
  { tail -50 "$home/build.log"; exit 1; }

n=$(echo "$fuzzers" | wc -w)
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
jobs=${FUZZ_JOBS:-$((cores / n))}
[ "$jobs" -ge 1 ] || jobs=1
secs=$(awk "BEGIN { printf \"%d\", $hours * 3600 }")
dict=
[ -f "$src/fuzz/tether.dict" ] && dict="-dict=$src/fuzz/tether.dict"
stamp=$(date +%Y%m%d-%H%M%S)

tick=$(getconf CLK_TCK)
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)

# cpu_secs PID: user+system CPU seconds PID has used so far (0 once gone).
cpu_secs() {
  awk -v t="$tick" '{ sub(/^.*\) /, ""); printf "%d", ($12 + $13) / t }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}

# run_cpu_budget H CORPUS ART LOG: one libFuzzer process, stopped at $secs
# CPU seconds; then one ledger line.
run_cpu_budget() {
  # shellcheck disable=SC2086
  nice -n 19 "$build/bin/$1" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    $dict -artifact_prefix="$3/" "$2" >"$4" 2>&1 &
  pid=$!
  used=0
  while kill -0 "$pid" 2>/dev/null; do
    now=$(cpu_secs "$pid")
    [ "$now" -gt 0 ] && used=$now
    if [ "$used" -ge "$secs" ]; then
      kill -INT "$pid" 2>/dev/null || true
      break
    fi
    sleep 5
  done
  wait "$pid" 2>/dev/null || true
  execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$4" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$4" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$4" | tail -1 | cut -d' ' -f2)
  crashes=$(find "$3" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stamp" "$commit" "$1" "$used" \
    "${execs:-?}" "${rate:-?}" "${cov:-?}" "$crashes" >>"$home/ledger.tsv"
}

[ -f "$home/ledger.tsv" ] ||
  printf 'stamp\tcommit\tharness\tcpu_s\texecs\texec_per_s\tcov\tcrashes\n' >"$home/ledger.tsv"
if [ "$cpu" -eq 1 ]; then
  echo "fuzz/run.sh: $fuzzers for ${secs} CPU-s each; state in $home"
else
  echo "fuzz/run.sh: $fuzzers for ${secs}s, $jobs job(s) each; state in $home"
fi
for h in $fuzzers; do
  corpus=$home/corpus/$h
  art=$home/artifacts/$h/$stamp
  mkdir -p "$corpus" "$art" "$home/logs/$h"
  [ -d "$src/fuzz/corpus/$h" ] && cp -R "$src/fuzz/corpus/$h/." "$corpus/"
  [ -d "$src/fuzz/regressions/$h" ] &&
    find "$src/fuzz/regressions/$h" -type f ! -name '*.md' ! -name '*.txt' \
      -exec cp {} "$corpus/" \;
  if [ "$cpu" -eq 1 ]; then
    (cd "$home/logs/$h" && run_cpu_budget "$h" "$corpus" "$art" "$home/logs/$h/$stamp.log") &
    continue
  fi
  (
    cd "$home/logs/$h"
    # shellcheck disable=SC2086
    "$build/bin/$h" -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      $dict -artifact_prefix="$art/" "$corpus" >"$home/logs/$h/$stamp.log" 2>&1 || true
  ) &
done
wait

found=0
for h in $fuzzers; do
  art=$home/artifacts/$h/$stamp
  if [ "$cpu" -eq 1 ]; then
    line=$(awk -F'\t' -v s="$stamp" -v h="$h" '$1 == s && $3 == h {
      printf "%s CPU-s, %s execs, %s exec/s, cov %s", $4, $5, $6, $7 }' "$home/ledger.tsv")
  else
    line=$(grep -E '^#[0-9]+' "$home/logs/$h/$stamp.log" | tail -1 || true)
  fi
  echo "$h: ${line:-no stats (see $home/logs/$h/$stamp.log)}"
  for f in "$art"/*; do
    [ -f "$f" ] || continue
    found=1
    dest=$src/fuzz/regressions/$h
    mkdir -p "$dest"
    name=$(basename "$f")
    cp "$f" "$dest/$name"
    {
      echo "$name — found by fuzz/run.sh ($h, $stamp, ${hours}h, $jobs jobs)"
      echo "commit: $commit"
      echo
      echo "Replay: $build/bin/$h fuzz/regressions/$h/$name"
      echo "Minimize: $build/bin/$h -minimize_crash=1 -runs=100000 fuzz/regressions/$h/$name"
      echo "Then: analyse, fix, rename the input after what it shows, keep this note updated."
      echo
      echo "Report from a replay:"
      "$build/bin/$h" "$f" 2>&1 | grep -vE '^(INFO|Running|Executed|MS:|\*\*\*)' | head -60
    } >"$dest/$name.txt"
    echo "  NEW: fuzz/regressions/$h/$name (+ .txt note)"
  done
done
[ "$found" -eq 0 ] && echo "fuzz/run.sh: no crashes."
exit 0
