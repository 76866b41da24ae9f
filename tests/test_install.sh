#!/bin/sh
# Installs a build into a temporary prefix and uses it as a user would.
#   test_install.sh BUILD SRC LIBDIR CMAKE CC [config=CONFIG] [san=FLAGS]
# (FLAGS: the sanitizer options the build used, for what links against it)
# Against the shared and the static libraries, all with -Werror:
# (a) examples/ configured and built standalone with find_package(tether)
#     (tether::parent / tether::parent_static), and tests/install_runner.c
#     with tether::runner / tether::runner_static,
# (b) examples/capture.c and tests/install_runner.c compiled with
#     pkg-config (--static for the archives),
# (c) all run from the prefix (PATH, LD_LIBRARY_PATH), capture also with
#     install_runner as its runner,
# plus checks of what was installed (man pages included), the sonames and
# what the libraries export.
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

# not_linked_to LIB PROGRAM: PROGRAM holds LIB's code, it does not load it.
not_linked_to() {
  if command -v readelf >/dev/null && readelf -d "$2" | grep -q "NEEDED.*$1"; then
    fail "$2 loads $1, but was linked against the static library"
  fi
}

for kind in shared static; do
  step "(a) examples/ standalone with find_package(tether), $kind"
  st=OFF
  [ $kind = static ] && st=ON
  ex=$tmp/ex-$kind
  "$cmake" -S "$src/examples" -B "$ex" -DCMAKE_PREFIX_PATH="$p" \
    -DCMAKE_C_COMPILER="$cc" -DEXAMPLES_WERROR=ON -DEXAMPLES_STATIC=$st \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >"$tmp/ex-$kind.log" 2>&1 ||
    { cat "$tmp/ex-$kind.log"; echo "FAIL: configuring examples/ ($kind) against $p"; exit 1; }
  grep -E 'libuv|glib' "$tmp/ex-$kind.log"
  must "$cmake" --build "$ex"
  for f in poll capture; do [ -x "$ex/$f" ] || fail "examples ($kind): $f not built"; done
  # A runner of our own, linked the same way (tether::runner[_static]).
  mkdir -p "$tmp/r-$kind"
  cp "$src/tests/install_runner.c" "$tmp/r-$kind/"
  lib=tether::runner
  [ $kind = static ] && lib=tether::runner_static
  cat >"$tmp/r-$kind/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(r LANGUAGES C)
find_package(tether $ver REQUIRED COMPONENTS ${lib#tether::})
add_compile_options(-Wall -Wextra -Wpedantic -Werror)
add_executable(install_runner install_runner.c)
target_link_libraries(install_runner PRIVATE $lib)
CM
  "$cmake" -S "$tmp/r-$kind" -B "$tmp/r-$kind/b" -DCMAKE_PREFIX_PATH="$p" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="$san" >"$tmp/r-$kind.log" 2>&1 &&
    "$cmake" --build "$tmp/r-$kind/b" >>"$tmp/r-$kind.log" 2>&1 ||
    { cat "$tmp/r-$kind.log"; fail "install_runner ($kind) with find_package"; }
  if [ $kind = static ]; then
    for f in "$ex/capture" "$ex/poll"; do not_linked_to libtether_parent "$f"; done
    not_linked_to libtether_runner "$tmp/r-$kind/b/install_runner"
  fi
done
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
find_package(tether $major.$minor REQUIRED COMPONENTS parent runner parent_static runner_static)
CM
"$cmake" -S "$tmp/v" -B "$tmp/v/b" -DCMAKE_PREFIX_PATH="$p" >"$tmp/v.log" 2>&1 ||
  { cat "$tmp/v.log"; fail "find_package version/component checks"; }

step "(b) capture.c and install_runner.c with pkg-config, shared and static"
export PKG_CONFIG_PATH="$p/$libdir/pkgconfig"
pkg-config --exists tether-parent tether-runner || fail "pkg-config tether-parent tether-runner"
[ "$(pkg-config --modversion tether-parent)" = "$ver" ] || fail "tether-parent.pc version"
[ "$(pkg-config --modversion tether-runner)" = "$ver" ] || fail "tether-runner.pc version"
cflags="-std=c11 -Wall -Wextra -Wpedantic -Werror $san"
for lib in parent runner; do
  src_c=$src/examples/capture.c out=capture
  [ $lib = runner ] && src_c=$src/tests/install_runner.c out=install_runner
  flags=$(pkg-config --cflags --libs tether-$lib) || fail "pkg-config tether-$lib"
  echo "pkg-config tether-$lib: $flags"
  # shellcheck disable=SC2086 # word splitting of the flag lists is intended
  must "$cc" $cflags "$src_c" $flags -o "$tmp/$out-pc-shared"
  # Static: the archive itself, then what --static says it needs.
  sflags=$(pkg-config --static --libs tether-$lib | sed "s/-ltether_$lib\( \|$\)/ /") ||
    fail "pkg-config --static tether-$lib"
  echo "pkg-config --static tether-$lib: $sflags"
  # shellcheck disable=SC2086
  must "$cc" $cflags $(pkg-config --cflags tether-$lib) "$src_c" "$p/$libdir/libtether_$lib.a" \
    $sflags -o "$tmp/$out-pc-static"
  not_linked_to "libtether_$lib" "$tmp/$out-pc-static"
done

step "(c) run from the prefix"
for kind in shared static; do
  check_example "$tmp/ex-$kind/capture"
  check_example "$tmp/ex-$kind/poll"
  [ -x "$tmp/ex-$kind/libuv" ] && check_example "$tmp/ex-$kind/libuv"
  [ -x "$tmp/ex-$kind/glib" ] && check_example "$tmp/ex-$kind/glib"
  mkdir -p "$tmp/pc-$kind"
  cp "$tmp/capture-pc-$kind" "$tmp/pc-$kind/capture"
  check_example "$tmp/pc-$kind/capture"
  # Both libraries from the install: capture with our own runner, built
  # with CMake and with pkg-config.
  for r in "$tmp/r-$kind/b/install_runner" "$tmp/install_runner-pc-$kind"; do
    export TETHER_RUNNER="$r"
    check_example "$tmp/pc-$kind/capture"
    unset TETHER_RUNNER
  done
done
# tether-run from the prefix finds the tether-runner beside it.
out=$(tether-run -- sh -c 'echo via-tether-run; exit 5'); rc=$?
if [ $rc -ne 5 ] || [ "$out" != via-tether-run ]; then
  fail "installed tether-run: exit $rc, output '$out'"
fi
# The man pages (docs/man/) are installed.
for m in man1/tether-run.1 man1/tether-runner.1 man3/tether.3 man3/tether_capture.3; do
  [ -f "$p/share/man/$m" ] || fail "man page not installed: share/man/$m"
done

if [ $fails -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "install test passed"
