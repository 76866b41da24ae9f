#!/bin/sh
# fuzz/run.sh HOURS [HARNESS...] — long local fuzzing.
#
# Builds the libFuzzer harnesses (clang, -DTETHER_FUZZ=ON) under $FUZZ_HOME
# (default ~/.cache/tether-fuzz) and runs the named harnesses (default: all)
# side by side for HOURS (fractions allowed: 0.5), each in libFuzzer's fork
# mode with $FUZZ_JOBS jobs (default: cores / harnesses, at least 1). Fork
# mode goes on after a crash, so one bug does not end the night.
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

[ $# -ge 1 ] || { echo "usage: $0 HOURS [HARNESS...]" >&2; exit 2; }
hours=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
home=${FUZZ_HOME:-$HOME/.cache/tether-fuzz}
build=$home/build
mkdir -p "$home"
gen=
command -v ninja >/dev/null 2>&1 && gen="-G Ninja"

# shellcheck disable=SC2086
CC=${CC:-clang} cmake -S "$src" -B "$build" $gen -DTETHER_FUZZ=ON -DTETHER_TESTS=OFF \
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

echo "fuzz/run.sh: $fuzzers for ${secs}s, $jobs job(s) each; state in $home"
for h in $fuzzers; do
  corpus=$home/corpus/$h
  art=$home/artifacts/$h/$stamp
  mkdir -p "$corpus" "$art" "$home/logs/$h"
  [ -d "$src/fuzz/corpus/$h" ] && cp -R "$src/fuzz/corpus/$h/." "$corpus/"
  [ -d "$src/fuzz/regressions/$h" ] &&
    find "$src/fuzz/regressions/$h" -type f ! -name '*.md' ! -name '*.txt' \
      -exec cp {} "$corpus/" \;
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
  line=$(grep -E '^#[0-9]+' "$home/logs/$h/$stamp.log" | tail -1 || true)
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
      echo "commit: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
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
