# Terminal (pty) sessions: the real tether-runner driven by the minimal
# parent of tests/runner_parent.h.
tether_add_test(test_pty
  SOURCES test_pty.c
  LIBS tether_transport tether_codec_pbc
  TIMEOUT 900)
target_compile_definitions(test_pty PRIVATE
  TETHER_RUNNER_PATH="$<TARGET_FILE:tether-runner>")
add_dependencies(test_pty tether-runner)
# yes_50mb_exact pushes 75 MB through a pty (~20 s on a slow VM): give each
# test more than the harness's default 60 s.
set_tests_properties(test_pty PROPERTIES ENVIRONMENT TEST_TIMEOUT=180)
