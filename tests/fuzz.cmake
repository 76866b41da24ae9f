# Fuzz harnesses under ctest (ctest -L fuzz): for every harness listed by
# fuzz/CMakeLists.txt, replay its seed corpus and its regressions, then run
# seeded iterations. Without TETHER_FUZZ the harnesses use the standalone
# driver (any compiler); with it they are libFuzzer binaries and get the
# equivalent libFuzzer flags. New inputs libFuzzer finds go to the build
# tree, never into fuzz/corpus.
if(NOT TARGET tether_fuzz_support)
  return()
endif()

# Seeded inputs per harness: the standalone driver runs ~10-100k inputs/s
# under ASan, libFuzzer builds (coverage, trace-cmp) ~5-25k/s; both stay
# well under 20 s per harness.
if(TETHER_FUZZ)
  set(tether_fuzz_iter_default 20000)
else()
  set(tether_fuzz_iter_default 300000)
endif()
set(TETHER_FUZZ_ITERATIONS ${tether_fuzz_iter_default} CACHE STRING
    "Seeded inputs per fuzz harness under ctest")
get_property(tether_fuzzers GLOBAL PROPERTY TETHER_FUZZERS)
set(fuzz_src ${PROJECT_SOURCE_DIR}/fuzz)
set(fuzz_out ${PROJECT_BINARY_DIR}/fuzz/ctest)

foreach(h ${tether_fuzzers})
  set(dirs "")
  foreach(d ${fuzz_src}/corpus/${h} ${fuzz_src}/regressions/${h})
    if(IS_DIRECTORY ${d})
      list(APPEND dirs ${d})
    endif()
  endforeach()
  if(NOT dirs)
    message(WARNING "fuzz harness ${h} has no corpus or regressions directory")
    continue()
  endif()
  file(MAKE_DIRECTORY ${fuzz_out}/${h})
  # A harness may cap its count (tether_add_fuzzer ITERATIONS: the session
  # harnesses, whose inputs are whole sessions).
  set(iter ${TETHER_FUZZ_ITERATIONS})
  get_property(h_iter GLOBAL PROPERTY TETHER_FUZZ_ITERATIONS_${h})
  if(h_iter AND h_iter LESS iter)
    set(iter ${h_iter})
  endif()
  if(TETHER_FUZZ)
    add_test(NAME ${h}_replay COMMAND ${h} -runs=0 -artifact_prefix=${fuzz_out}/
             ${fuzz_out}/${h} ${dirs})
    add_test(NAME ${h}_iterations COMMAND ${h} -runs=${iter} -seed=1
             -timeout=10 -rss_limit_mb=2048 -artifact_prefix=${fuzz_out}/
             ${fuzz_out}/${h} ${dirs})
  else()
    add_test(NAME ${h}_replay COMMAND ${h} ${dirs})
    add_test(NAME ${h}_iterations COMMAND ${h} --iterations ${iter}
             --seed 1 ${dirs})
  endif()
  set_tests_properties(${h}_replay ${h}_iterations PROPERTIES
    LABELS fuzz TIMEOUT 120 ENVIRONMENT "FUZZ_ARTIFACT_DIR=${fuzz_out}")
endforeach()
