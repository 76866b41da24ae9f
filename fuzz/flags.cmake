# Included by the root CMakeLists.txt when TETHER_FUZZ=ON, before any library
# is defined: every tether library (and the generated code) is compiled with
# libFuzzer's coverage instrumentation and the sanitizers, so the fuzzers see
# edges inside transport/ and codec/, not only in the harness files. The
# harnesses themselves link with -fsanitize=fuzzer (fuzz/CMakeLists.txt).
# Other executables (tests, tether-runner) link the sanitizer runtimes, which
# also provide the coverage callbacks, so they still build and run.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "TETHER_FUZZ=ON needs clang (configure with CC=clang); "
                      "other compilers build the harnesses with the standalone "
                      "driver when TETHER_FUZZ is OFF")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                    -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)
