# Fault tolerance, soak and limits (flow control, limits and fault
# tolerance issue): tests/test_faults.c, tests/test_soak.c,
# tests/test_limits.c (shared helpers: tests/faults_common.h). Labels:
#   faults  fault injection (runner or parent killed, stalls, handshake
#           deadlines, daemonizing children) and the limits table.
#   soak    10 000 sessions sequentially and 10 000 in rounds of 500 live at
#           once, with fd and zombie accounting in both processes. Measured
#           at ~13 s under ASan on 2 CPUs, so the full count runs in every
#           tree; lower TETHER_SOAK_SESSIONS for a slow machine.
# Every test here runs under ASan in the README's test command, and the
# `valgrind` stage of .ci/run (tests/valgrind.sh) runs the mixed workload
# (test_faults --helper valgrind_workload) in a non-sanitized tree.
set(TETHER_SOAK_SESSIONS 10000 CACHE STRING "sessions per soak test")

tether_add_test(test_faults SOURCES test_faults.c LIBS tether_parent TIMEOUT 600)
tether_add_test(test_limits SOURCES test_limits.c
  LIBS tether_parent tether_transport tether_codec_pbc TIMEOUT 600)
tether_add_test(test_soak SOURCES test_soak.c LIBS tether_parent TIMEOUT 1200)
foreach(t test_faults test_limits test_soak)
  target_compile_definitions(${t} PRIVATE TETHER_RUNNER_PATH="$<TARGET_FILE:tether-runner>")
  add_dependencies(${t} tether-runner)
endforeach()
set_tests_properties(test_faults test_limits PROPERTIES LABELS faults)
set_tests_properties(test_soak PROPERTIES LABELS soak
  ENVIRONMENT "TETHER_SOAK_SESSIONS=${TETHER_SOAK_SESSIONS};TEST_TIMEOUT=1100")
