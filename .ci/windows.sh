#!/usr/bin/env bash
# CI, Windows stage: cross-builds tether for x86_64 Windows with mingw-w64
# and runs the Windows test suite under Wine (docs/WINDOWS.md). Called by
# .ci/run after the Linux tests; works on its own too, on a fresh Debian 12
# machine, as root or through sudo (the first run installs packages and
# fetches the codec runtime sources from the Debian archive).
#
#   BUILD_WIN          build directory           (default: build-win)
#   TETHER_WIN_DEPS_DIR codec runtime sources    (default: /opt/tether-win-deps)
#   WINEPREFIX         Wine prefix               (default: $BUILD_WIN/wineprefix)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "=================================================================="
echo "== Windows stage: mingw-w64 cross build, tests under Wine"
echo "=================================================================="
start=$(date +%s)

bash .ci/deps

build=${BUILD_WIN:-build-win}
deps=${TETHER_WIN_DEPS_DIR:-/opt/tether-win-deps}

echo "== codec runtime sources (Debian source packages) -> $deps"
bash cmake/win-deps.sh "$deps" >/dev/null

echo "== configure and build ($build)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
      -DTETHER_WIN_DEPS_DIR="$deps" -DTETHER_WERROR=ON
cmake --build "$build" -j"$(nproc)"

export WINEDEBUG=-all
mkdir -p "$build"
export WINEPREFIX=${WINEPREFIX:-$(cd "$build" && pwd)/wineprefix}
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "== Wine prefix $WINEPREFIX (first use)"
  # Wine's background processes keep whatever descriptors they start with:
  # give them none of ours, or whoever reads our output waits for them.
  wineboot -u </dev/null >/dev/null 2>&1
  wineserver -w
fi

echo "== ctest under Wine (one persistent wineserver: the wine fixture)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
ctest --test-dir "$build" --output-on-failure -j2 </dev/null 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo "== Windows stage: $(grep -E '[0-9]+% tests passed' "$log" || echo 'no ctest summary')" \
     "($(( $(date +%s) - start )) s)"
exit "$rc"
