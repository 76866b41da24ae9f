#!/bin/sh
# Installs a build into a temporary prefix and uses it as a user would.
#   test_install.sh BUILD SRC LIBDIR CMAKE CC [config=CONFIG] [san=FLAGS]
# (FLAGS: the sanitizer options the build used, for what links against it)
# (a) examples/ configured and built standalone with find_package(tether),
# (b) examples/capture.c compiled with `pkg-config --cflags --libs
#     tether-parent`, (c) both run from the prefix (PATH, LD_LIBRARY_PATH),
# plus checks of what was installed and what the libraries export.
set -u
[ $# -ge 5 ] || { echo "usage: $0 BUILD SRC LIBDIR CMAKE CC [config=C] [san=FLAGS]" >&2; exit 2; }
build=$1 src=$2 libdir=$3 cmake=$4 cc=$5
shift 5
config="" san=""
for a in "$@"; do
  case $a in
  config=*) config=${a#config=} ;;
  san=*) san=${a#san=} ;;
  *) echo "$0: unknown argument $a" >&2; exit 2 ;;
  esac
done

TETHER_TEST_EXAMPLES_LIB=1 . "$src/tests/test_examples.sh" # fail, expect, check_example

ver=$(sed -n 's/^project(tether VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
so=${ver%.*} # the soname's version: MAJOR.MINOR while MAJOR is 0
case $so in 0.*) ;; *) so=${so%.*} ;; esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix

step() { echo "== $*"; }
must() { "$@" || { echo "FAIL: $*"; exit 1; }; }

step "install into $p"
must "$cmake" --install "$build" --prefix "$p" ${config:+--config "$config"} >"$tmp/install.log"

for f in include/tether/parent.h include/tether/runner.h include/tether/error.h \
         include/tether/limits.h include/tether/wire.h include/tether/os.h \
         include/tether/os_posix.h include/tether/os_win.h include/tether/export.h \
         include/tether/version.h \
         bin/tether-run bin/tether-runner \
         "$libdir/libtether_parent.so" "$libdir/libtether_parent.so.$so" \
         "$libdir/libtether_runner.so" "$libdir/libtether_runner.so.$so" \
         "$libdir/cmake/tether/tetherConfig.cmake" \
         "$libdir/cmake/tether/tetherConfigVersion.cmake" \
         "$libdir/cmake/tether/tetherTargets.cmake" \
         "$libdir/pkgconfig/tether-parent.pc" "$libdir/pkgconfig/tether-runner.pc"; do
  [ -e "$p/$f" ] || fail "not installed: $f"
done

# The soname carries MAJOR.MINOR while MAJOR is 0 (the ABI may change).
if command -v readelf >/dev/null; then
  for lib in parent runner; do
    readelf -d "$p/$libdir/libtether_$lib.so" | grep -q "SONAME.*\[libtether_$lib\.so\.$so\]" ||
      fail "libtether_$lib.so: soname is not libtether_$lib.so.$so"
  done
fi

# Exports: only public tether_ names, each declared TETHER_EXTERN in a header.
if command -v nm >/dev/null; then
  for lib in parent runner; do
    nm -D --defined-only "$p/$libdir/libtether_$lib.so" | awk '$2 ~ /^[A-Z]$/ {print $3}' \
      | sort >"$tmp/$lib.syms"
    echo "libtether_$lib.so exports $(wc -l <"$tmp/$lib.syms") symbols"
    [ -s "$tmp/$lib.syms" ] || fail "libtether_$lib.so exports nothing"
    while read -r sym; do
      case $sym in
      tether_*) grep -q "TETHER_EXTERN.*[ *]$sym(" "$p"/include/tether/*.h ||
                  fail "libtether_$lib.so exports $sym, not in a public header" ;;
      *) fail "libtether_$lib.so exports $sym" ;;
      esac
    done <"$tmp/$lib.syms"
  done
  grep -qx tether_capture_sized "$tmp/parent.syms" || fail "tether_capture_sized not exported"
  grep -qx tether_strerror "$tmp/parent.syms" || fail "tether_strerror not in the parent"
  grep -qx tether_runner_serve_fds "$tmp/runner.syms" || fail "runner API not exported"
fi

export PATH="$p/bin:$PATH"
export LD_LIBRARY_PATH="$p/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset TETHER_RUNNER # the examples find tether-runner in PATH, as a user's would

step "(a) examples/ standalone with find_package(tether)"
"$cmake" -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$p" \
  -DCMAKE_C_COMPILER="$cc" -DEXAMPLES_WERROR=ON \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >"$tmp/ex.log" 2>&1 ||
  { cat "$tmp/ex.log"; echo "FAIL: configuring examples/ against $p"; exit 1; }
grep -E 'libuv|glib' "$tmp/ex.log"
must "$cmake" --build "$tmp/ex"
for f in poll capture; do [ -x "$tmp/ex/$f" ] || fail "examples: $f not built"; done
# The version file rejects an incompatible request.
mkdir -p "$tmp/v"
major=${ver%%.*} minor=${ver#*.}; minor=${minor%%.*}
cat >"$tmp/v/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(v LANGUAGES C)
find_package(tether $major.$((minor + 1)) QUIET)
if(tether_FOUND)
  message(FATAL_ERROR "tether $ver accepted for a request of $major.$((minor + 1))")
endif()
find_package(tether $major.$minor REQUIRED COMPONENTS parent runner)
CM
"$cmake" -S "$tmp/v" -B "$tmp/v/b" -DCMAKE_PREFIX_PATH="$p" >"$tmp/v.log" 2>&1 ||
  { cat "$tmp/v.log"; fail "find_package version/component checks"; }

step "(b) capture.c with pkg-config"
export PKG_CONFIG_PATH="$p/$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs tether-parent) || fail "pkg-config tether-parent"
pkg-config --exists tether-runner || fail "pkg-config tether-runner"
[ "$(pkg-config --modversion tether-parent)" = "$(sed -n 's/^project(tether VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")" ] ||
  fail "tether-parent.pc version"
echo "pkg-config: $flags"
# shellcheck disable=SC2086 # word splitting of the flag lists is intended
must "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $san "$src/examples/capture.c" \
  $flags -o "$tmp/capture"

step "(c) run from the prefix"
check_example "$tmp/capture"
check_example "$tmp/ex/capture"
check_example "$tmp/ex/poll"
[ -x "$tmp/ex/libuv" ] && check_example "$tmp/ex/libuv"
[ -x "$tmp/ex/glib" ] && check_example "$tmp/ex/glib"
# tether-run from the prefix finds the tether-runner beside it.
out=$(tether-run -- sh -c 'echo via-tether-run; exit 5'); rc=$?
if [ $rc -ne 5 ] || [ "$out" != via-tether-run ]; then
  fail "installed tether-run: exit $rc, output '$out'"
fi

if [ $fails -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "install test passed"
