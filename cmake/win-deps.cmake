# Codec runtimes for the Windows (mingw-w64) build.
#
# Debian ships the protobuf-c and nanopb runtimes only as Linux libraries,
# so the Windows build compiles their runtime sources itself, from Debian's
# source packages at the generators' versions, unpacked outside the tree by
# cmake/win-deps.sh. Nothing of theirs is copied into this repository.
#
# Defines tether_rt_protobuf_c and tether_rt_nanopb (static libraries),
# which gen/CMakeLists.txt links on WIN32 in place of the system packages.

set(TETHER_WIN_DEPS_DIR "/opt/tether-win-deps" CACHE PATH
    "Where cmake/win-deps.sh unpacked the protobuf-c and nanopb sources")

set(_pbc ${TETHER_WIN_DEPS_DIR}/protobuf-c)
set(_npb ${TETHER_WIN_DEPS_DIR}/nanopb)
if(NOT EXISTS ${_pbc}/protobuf-c/protobuf-c.c OR NOT EXISTS ${_npb}/pb_decode.c)
  message(FATAL_ERROR
    "Codec runtime sources not found in TETHER_WIN_DEPS_DIR=${TETHER_WIN_DEPS_DIR}.\n"
    "Run: cmake/win-deps.sh ${TETHER_WIN_DEPS_DIR}")
endif()

add_library(tether_rt_protobuf_c STATIC ${_pbc}/protobuf-c/protobuf-c.c)
target_include_directories(tether_rt_protobuf_c SYSTEM PUBLIC ${_pbc})

add_library(tether_rt_nanopb STATIC
  ${_npb}/pb_common.c ${_npb}/pb_decode.c ${_npb}/pb_encode.c)
target_include_directories(tether_rt_nanopb SYSTEM PUBLIC ${_npb})
# As Debian builds libprotobuf-nanopb (debian/rules), so both platforms run
# the same runtime; the flag only adds code, it changes no layout.
target_compile_definitions(tether_rt_nanopb PRIVATE PB_ENABLE_MALLOC)

# Not our code: not held to our warning set.
foreach(t tether_rt_protobuf_c tether_rt_nanopb)
  target_compile_options(${t} PRIVATE -w)
endforeach()
unset(_pbc)
unset(_npb)
